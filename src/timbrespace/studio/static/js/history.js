// Results and history: every sound the page shows is a *result* — a WAV from /api/render,
// /api/interpolate, /api/plane or /api/path with its state id and control values. Results go
// through one funnel (`request`), where the newest request always wins, and into a client
// history for undo/redo.

import { busy, postAudio } from "./api.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { decodeAudio } from "./player.js";
import { controlsNamedIn } from "./readouts.js";
import { player } from "./sound-panel.js";
import { $, S, display, newGesture } from "./state.js";
import { report, setStatus } from "./status.js";

const HISTORY_LIMIT = 200;

/** The options every audio request carries: normalize, and Griffin-Lim iterations (paths). */
export function audioOptions() {
  const options = { gain_db: 0, normalize: $("normalize").checked };
  if (S.info.path_model) {
    const { min, max } = S.info.limits.gla_iters;
    const iters = Number($("gla-iters").value);
    options.gla_iters = Number.isInteger(iters) && iters >= min && iters <= max ? iters : null;
  }
  return options;
}

/**
 * POST an audio request and show its result, unless a newer request's result is already
 * shown. meta: {label, start, moved, reference (index | "nearest" | null), ref (SoundRef of
 * the result for corners/slots, default {state}), labelOf(result) (the label once the render
 * answers, else `label`), gesture, autoplay, area (the panel whose
 * message line shows a failure, cleared by its next success), onError(text), onSuccess()}.
 */
export async function request(endpoint, body, meta) {
  const seq = ++S.seq;
  busy(+1);
  try {
    const result = await postAudio(endpoint, body);
    if (seq <= S.applied) return;
    S.applied = seq;
    const buffer = await decodeAudio(await result.blob.arrayBuffer(), S.info.sample_rate);
    if (seq !== S.applied) return;
    const entry = {
      blob: result.blob,
      buffer,
      state: result.state,
      values: result.values,
      requested: result.requested,
      measured: result.measured,
      warnings: result.warnings,
      map: result.map, // [x, y] on the latent map
      label: meta.labelOf ? meta.labelOf(result) : meta.label,
      start: meta.start ?? { state: result.state },
      startLabel: meta.startLabel ?? meta.label,
      moved: new Map(meta.moved ?? []),
      reference: meta.reference ?? "nearest",
      ref: meta.ref ?? { state: result.state },
      marker: meta.marker ?? null,
      gesture: meta.gesture ?? newGesture(),
      kind: meta.kind ?? "other",
      body: { endpoint, body },
    };
    remember(entry);
    display(entry);
    if ((meta.autoplay ?? true) && $("autoplay").checked && !(player.playing && player.loop)) {
      player.play();
    }
    if (meta.area) clearPanelMessage(meta.area);
    meta.onSuccess?.(entry);
    setStatus(`${entry.label}${warningSummary(entry.warnings)}`, entry.warnings.length ? "warn" : "");
  } catch (error) {
    const text = errorText(error);
    if (text !== null && meta.onError) meta.onError(text);
    if (text !== null && meta.area) panelMessage(meta.area, text);
    else report(error);
  } finally {
    busy(-1);
  }
}

/** Warnings for the status bar: those naming a control stand under its slider, so here they
 * are only named; the others in full. */
function warningSummary(warnings) {
  if (!warnings.length) return "";
  const known = new Set(S.info.controls.map((c) => c.name));
  const loose = [];
  const named = new Set();
  for (const line of warnings) {
    const [names] = controlsNamedIn(line, known);
    if (names.length) for (const name of names) named.add(name);
    else loose.push(line);
  }
  if (named.size) loose.push(`${[...named].join(", ")}: see the note under the slider`);
  return ` — ${loose.join("; ")}`;
}

function remember(entry) {
  // a new result drops the redo branch; results of one gesture share one history entry
  S.history.length = S.position + 1;
  const top = S.history[S.position];
  if (top && top.gesture === entry.gesture) S.history[S.position] = entry;
  else S.history.push(entry);
  if (S.history.length > HISTORY_LIMIT) S.history.splice(0, S.history.length - HISTORY_LIMIT);
  S.position = S.history.length - 1;
  updateHistoryButtons();
}

function updateHistoryButtons() {
  $("undo").disabled = S.position <= 0;
  $("redo").disabled = S.position >= S.history.length - 1;
}

/** Show the previous history entry. */
export function undo() {
  if (S.position <= 0) return;
  S.position -= 1;
  restore();
}

/** Show the next history entry. */
export function redo() {
  if (S.position >= S.history.length - 1) return;
  S.position += 1;
  restore();
}

/** Show a kept result again (a snapshot) as a new step of the history: the very same audio and
 * state, never a render; the controls go on from its start and moves. */
export function recall(kept, label) {
  S.lastMoveBody = null;
  S.applied = S.seq; // results still in flight must not replace it
  const entry = { ...kept, label, gesture: newGesture() };
  remember(entry);
  display(entry, { restoring: true });
  if ($("autoplay").checked && !(player.playing && player.loop)) player.play();
  setStatus(label);
  return entry;
}

function restore() {
  S.lastMoveBody = null;
  S.applied = S.seq; // results still in flight must not overwrite the restored state
  const entry = S.history[S.position];
  display(entry, { restoring: true });
  updateHistoryButtons();
  setStatus(`${S.position + 1}/${S.history.length}: ${entry.label}`);
}

$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);
