// Slots that hold a sound for the plane corners and the A→B ends: the current result's
// SoundRef and label.

import { S } from "./state.js";
import { setStatus } from "./status.js";

/** The current result as {ref, label}, or null (and a status error) when nothing is loaded. */
export function pickCurrent() {
  if (!S.current) {
    setStatus("load a sound first (packs or map)", "error");
    return null;
  }
  return { ref: S.current.ref, label: S.current.label };
}

/** Show `label` (its file name; the full label as title) in a slot element's `.slot-label`. */
export function fillSlot(element, label) {
  const span = element.querySelector(".slot-label");
  span.textContent = label.split("/").pop();
  span.title = label;
  span.classList.add("filled");
}
