// The "Export" panel: download the current state's WAV, or save it into a pack folder of
// the dataset (/api/export).

import { postJSON } from "./api.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { $, S, on } from "./state.js";
import { setStatus } from "./status.js";

$("download").addEventListener("click", (e) => {
  if (!S.current?.state) e.preventDefault();
});

$("save-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!S.current?.state) {
    panelMessage("export", "export: nothing rendered yet");
    return;
  }
  let name = $("save-name").value.trim();
  if (name && !name.toLowerCase().endsWith(".wav")) name += ".wav";
  try {
    const saved = await postJSON("/api/export", {
      state: S.current.state,
      folder: $("save-folder").value.trim().replace(/^\/+|\/+$/g, ""),
      name,
      overwrite: $("save-overwrite").checked,
    });
    clearPanelMessage("export");
    setStatus(`saved ${saved.path}`);
  } catch (error) {
    const text = errorText(error);
    if (text !== null) panelMessage("export", text);
  }
});

on("show", (entry) => {
  if (!entry.state) return;
  const download = $("download");
  download.href = `/api/states/${entry.state}/wav`;
  download.setAttribute("download", `timbrespace_${entry.state}.wav`);
  download.classList.remove("disabled");
  download.setAttribute("aria-disabled", "false");
});
