// Sounds dragged out of the page as files, and lists of written files. Chromium turns a drag
// carrying `DownloadURL` data (`audio/wav:NAME.wav:ABSOLUTE_URL`) into a file dropped on the
// desktop, a file manager or a DAW; other browsers drag the link (its URL) instead.

import { getBytes } from "./api.js";
import { errorText, panelMessage } from "./messages.js";
import { decodeAudio } from "./player.js";
import { player } from "./sound-panel.js";

const MEDIA = { wav: "audio/wav", csv: "text/csv" };

/** Let `element` be dragged out as a file: `describe()` → {name, url} (null: nothing to drag). */
export function dragOut(element, describe) {
  element.addEventListener("dragstart", (e) => {
    const file = describe();
    if (!file) {
      e.preventDefault();
      return;
    }
    const url = new URL(file.url, window.location.href).href;
    const suffix = file.name.split(".").pop().toLowerCase();
    e.dataTransfer.effectAllowed = "copy";
    e.dataTransfer.setData("DownloadURL", `${MEDIA[suffix] ?? "application/octet-stream"}:${file.name}:${url}`);
    e.dataTransfer.setData("text/uri-list", url);
    e.dataTransfer.setData("text/plain", url);
  });
}

/** Play a file of the export folder (a preview through the player's output). */
async function preview(url, button) {
  try {
    button.disabled = true;
    const buffer = await decodeAudio(await getBytes(url), 48000);
    player.preview(buffer);
  } catch (error) {
    panelMessage("pack", errorText(error));
  } finally {
    button.disabled = false;
  }
}

/**
 * Show `files` ({name, url, …}) in `container` as a list: a ▶ preview for WAVs, the name as a
 * download link that can be dragged out, and `extra(file)` (text) after it.
 */
export function fileList(container, files, extra = () => "") {
  const items = files.map((file) => {
    const item = document.createElement("li");
    const wav = file.name.toLowerCase().endsWith(".wav");
    if (wav) {
      const play = document.createElement("button");
      play.type = "button";
      play.className = "file-play";
      play.textContent = "▶";
      play.title = `Preview ${file.name}`;
      play.setAttribute("aria-label", `Preview ${file.name}`);
      play.addEventListener("click", () => preview(file.url, play));
      item.append(play);
    }
    const link = document.createElement("a");
    link.href = file.url;
    link.download = file.name;
    link.textContent = file.name;
    link.title = `${file.path ?? file.name} — click to download, or drag it out of the page`;
    link.className = "file-link";
    link.draggable = true;
    dragOut(link, () => file);
    item.append(link);
    const text = extra(file);
    if (text) {
      const span = document.createElement("span");
      span.className = "muted small";
      span.textContent = text;
      item.append(span);
    }
    return item;
  });
  container.replaceChildren(...items);
}
