// The "Export" panel: download the current state's WAV, or save it into a pack folder of
// the dataset (/api/export).

import { postJSON } from "./api.js";
import { $, S, on } from "./state.js";
import { report, setStatus } from "./status.js";

$("download").addEventListener("click", (e) => {
  if (!S.current?.state) e.preventDefault();
});

$("save-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!S.current?.state) {
    setStatus("export: nothing rendered yet", "error");
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
    setStatus(`saved ${saved.path}`);
  } catch (error) {
    report(error);
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
