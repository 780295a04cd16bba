// Snapshots: eight slots that keep a sound exactly as it was rendered — its result (the WAV
// bytes, the state id, where it lies, the controls' start and moves), never a recipe to render
// again — so a recalled sound is the stored one, byte for byte. A click on an empty slot
// stores the current sound, on a full one recalls it; "store…" arms the next click to
// overwrite a slot; "⇄ compare" switches between the last two slots used. The map rings
// where each snapshot lies.

import { latentMap } from "./browse-panel.js";
import { recall } from "./history.js";
import { clearPanelMessage, panelMessage } from "./messages.js";
import { shortName } from "./slots.js";
import { $, S, on } from "./state.js";
import { setStatus } from "./status.js";

export const SLOTS = 8;

const slots = Array.from({ length: SLOTS }, () => null); // {entry, label} per slot
let storing = false; // "store…" armed: the next slot click stores
let pair = []; // the last two slots used (stored or recalled), most recent last

const buttons = [];
for (let i = 0; i < SLOTS; i++) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = String(i + 1);
  button.dataset.snapshot = String(i + 1);
  button.addEventListener("click", () => (storing || !slots[i] ? store(i) : recallSlot(i)));
  buttons.push(button);
}
$("snapshot-slots").append(...buttons);

function use(i) {
  pair = [...pair.filter((j) => j !== i), i].slice(-2);
}

/** Keep the sound on display in slot `i` (0-based). */
export function store(i) {
  setStoring(false);
  if (!S.current?.state) {
    panelMessage("controls", "snapshots: nothing to store yet: load or make a sound first", "warn");
    return;
  }
  const label = S.current.label;
  clearPanelMessage("controls");
  slots[i] = { entry: S.current, label };
  use(i);
  update();
  setStatus(`snapshot ${i + 1} ← ${label}`);
}

/** Show the sound kept in slot `i` (0-based) again, as it was stored. */
export function recallSlot(i) {
  const slot = slots[i];
  if (!slot) return;
  use(i);
  recall(slot.entry, `snapshot ${i + 1} · ${slot.label}`);
  update();
}

/** The sound kept in slot `i` (0-based): its history entry (blob, state, map…), or null. */
export function snapshot(i) {
  return slots[i]?.entry ?? null;
}

function setStoring(on) {
  storing = on;
  $("snapshot-store").setAttribute("aria-pressed", String(on));
  $("snapshot-store").closest(".snapshots").classList.toggle("storing", on);
}

function update() {
  const shown = S.current?.state;
  buttons.forEach((button, i) => {
    const slot = slots[i];
    button.classList.toggle("filled", Boolean(slot));
    button.classList.toggle("current", Boolean(slot) && slot.entry.state === shown);
    button.title = slot
      ? `${i + 1}: ${slot.label} — click to recall${storing ? " (armed: click stores here)" : ""}`
      : `${i + 1}: empty — click to store the current sound`;
    button.setAttribute("aria-label", slot ? `Snapshot ${i + 1}: ${shortName(slot.label)}` : `Snapshot ${i + 1}: empty`);
  });
  const compare = $("snapshot-compare");
  const ready = pair.length === 2 && pair.every((i) => slots[i]);
  compare.disabled = !ready;
  compare.textContent = ready ? `⇄ ${pair[0] + 1} ↔ ${pair[1] + 1}` : "⇄ compare";
  compare.title = ready
    ? `Switch between snapshots ${pair[0] + 1} and ${pair[1] + 1}`
    : "Switch between the last two snapshots stored or recalled";
  latentMap.setSnapshots(
    slots.flatMap((slot, i) => (slot?.entry.map ? [{ n: i + 1, xy: slot.entry.map }] : [])),
  );
}

$("snapshot-store").addEventListener("click", () => {
  setStoring(!storing);
  update();
  if (storing) setStatus("snapshots: click the slot to store the current sound in");
});
$("snapshot-compare").addEventListener("click", () => {
  if (pair.length < 2) return;
  // the slot not on display, else the older of the two
  const shown = S.current?.state;
  const [older, newer] = pair;
  const next = slots[newer]?.entry.state === shown ? older : newer;
  recallSlot(next);
});

on("show", update);
update();
