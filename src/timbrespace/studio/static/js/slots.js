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

/** A label as a slot shows it: a dataset sound by its file name without the audio suffix
 * (`kicks/808/kick_0003.wav · pitch 220 Hz` → `kick_0003 · pitch 220 Hz`), anything else (a
 * map point, a mix) whole. */
export function shortName(label) {
  const [first, ...rest] = String(label).split(" · ");
  const file = /^[^()]*\/([^/]+)$/.exec(first);
  const name = (file ? file[1] : first).replace(/\.(wav|flac|aiff?|ogg|mp3|opus|m4a)$/i, "");
  return [name, ...rest].join(" · ");
}

/** Show `label` in a slot element's `.slot-label` (`shortName`; cut with an ellipsis when it
 * does not fit, the full label as tooltip). */
export function fillSlot(element, label) {
  const span = element.querySelector(".slot-label");
  span.textContent = shortName(label);
  span.title = label;
  span.classList.add("filled");
}
