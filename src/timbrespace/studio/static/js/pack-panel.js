// "Generate a pack" of the play panel: N variations of the current sound — along one or two
// controls (a grid, every point reached by the closed loop) or around it in the latent space —
// rendered by the server (POST /api/pack, the library of `timbrespace generate pack`) into the
// export folder at 44.1 or 48 kHz with `pack.csv`, then listed: preview, download, or drag a
// file out of the page.

import { postJSON } from "./api.js";
import { fileList } from "./drag-out.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { shortName } from "./slots.js";
import { $, S, on } from "./state.js";

const MAX_SOUNDS = 256;

/** The typed range a control varies over by default: semitones for a pitch, percent for
 * other Hz (brightness…) and for seconds, dB for dB, else its own unit added (`+=`). */
function defaults(control) {
  if (control.unit === "Hz" && control.descriptor === "f0") return ["-3st", "+3st"];
  if (control.unit === "Hz") return ["-20%", "+20%"];
  if (control.unit === "s") return ["-30%", "+30%"];
  if (control.unit === "dB") return ["-6dB", "+6dB"];
  return ["-1", "+1"];
}

/** `NAME=START:STOP:STEPS`: a signed number without st or % adds in the control's unit (`+=`);
 * anything else (st, %, an absolute value) is given as typed. */
export function varyText(name, from, to, steps) {
  const adds = (text) => /^[+-]/.test(text) && !/(st|%|c|cents?)$/i.test(text);
  const op = adds(from) && adds(to) ? "+=" : "=";
  return `${name}${op}${from}:${to}:${steps}`;
}

function axisRow(index) {
  return document.querySelector(`.pack-axis[data-axis="${index}"]`);
}

function fillAxis(index, name) {
  const row = axisRow(index);
  const control = S.info.controls.find((c) => c.name === name);
  if (!control) return;
  const [from, to] = defaults(control);
  row.querySelector(".axis-from").value = from;
  row.querySelector(".axis-to").value = to;
}

/** The request of the form, or throws an Error naming the field. */
function packRequest() {
  if (!S.current?.state) throw new Error("pack: load or make a sound first");
  const around = $("pack-mode").value === "around";
  const request = {
    state: S.current.state,
    stem: shortName(S.current.label).split(" · ")[0].slice(0, 120) || "sound",
    rate: Number($("play-rate").value),
    bits: Number($("play-bits").value),
    overwrite: $("pack-overwrite").checked,
  };
  const name = $("pack-name").value.trim();
  if (name) request.name = name;
  if (around) {
    const n = Number($("pack-n").value);
    const radius = Number($("pack-radius").value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_SOUNDS) throw new Error(`N: give 1 … ${MAX_SOUNDS} sounds`);
    if (!(radius > 0 && radius <= 10)) throw new Error("radius: give a distance above 0, at most 10");
    return { ...request, around: radius, n, seed: Number($("pack-seed").value) || 0 };
  }
  const vary = [];
  for (const index of [0, 1]) {
    const row = axisRow(index);
    const name = row.querySelector(".axis-control").value;
    if (!name) continue;
    const steps = Number(row.querySelector(".axis-steps").value);
    if (!Number.isInteger(steps) || steps < 2) throw new Error(`${name}: give 2 or more steps`);
    vary.push(varyText(name, row.querySelector(".axis-from").value.trim(), row.querySelector(".axis-to").value.trim(), steps));
  }
  if (!vary.length) throw new Error("pack: choose a control to vary");
  return { ...request, vary };
}

function showCount() {
  const around = $("pack-mode").value === "around";
  $("pack-around").hidden = !around;
  $("pack-vary").hidden = around;
  let n = Number($("pack-n").value);
  if (!around) {
    n = [0, 1]
      .map((i) => axisRow(i))
      .filter((row) => row.querySelector(".axis-control").value)
      .reduce((total, row) => total * (Number(row.querySelector(".axis-steps").value) || 0), 1);
  }
  $("pack-count").textContent = `${n} sound${n === 1 ? "" : "s"}`;
}

async function generate() {
  let request;
  try {
    request = packRequest();
  } catch (error) {
    panelMessage("pack", error.message);
    return;
  }
  const button = $("pack-generate");
  button.disabled = true;
  $("pack-summary").textContent = "rendering…";
  try {
    const made = await postJSON("/api/pack", request);
    fileList($("pack-files"), [...made.files, made.csv], (file) =>
      file.seconds === undefined
        ? "every sound's control values"
        : `${file.seconds.toFixed(2)} s · peak ${file.peak_db === null ? "silent" : `${file.peak_db.toFixed(1)} dBFS`}`,
    );
    $("pack-summary").textContent =
      `${made.folder}: ${made.files.length} files + pack.csv, ${request.rate} Hz, ${request.bits}-bit, rendered in ${(made.render_ms / 1000).toFixed(1)} s`;
    $("pack-summary").dataset.folder = made.folder;
    if (made.warnings.length) panelMessage("pack", made.warnings.slice(0, 3).join(" · "), "warn");
    else clearPanelMessage("pack");
  } catch (error) {
    $("pack-summary").textContent = "";
    panelMessage("pack", `pack: ${errorText(error)}`);
  } finally {
    button.disabled = false;
  }
}

/** Build the form for the model's controls (hidden for a model that makes no packs). */
export function initPack(info) {
  const makes = info.input_kind === "clip" || info.input_kind === "continuous";
  $("pack-part").hidden = !makes;
  if (!makes) return;
  const names = info.controls.map((c) => c.name);
  [0, 1].forEach((index) => {
    const row = axisRow(index);
    const select = row.querySelector(".axis-control");
    const options = names.map((n) => new Option(n, n));
    if (index === 1) options.unshift(new Option("— none —", ""));
    select.replaceChildren(...options);
    select.value = index === 0 ? (names.includes("pitch") ? "pitch" : names[0] ?? "") : "";
    if (select.value) fillAxis(index, select.value);
    select.addEventListener("change", () => {
      if (select.value) fillAxis(index, select.value);
      showCount();
    });
    row.querySelector(".axis-steps").addEventListener("input", showCount);
  });
  $("pack-mode").addEventListener("change", showCount);
  $("pack-n").addEventListener("input", showCount);
  $("pack-generate").addEventListener("click", generate);
  showCount();
}

on("show", (entry) => {
  const name = $("pack-name");
  if (name && entry.label) name.placeholder = `auto (${shortName(entry.label).split(" · ")[0]}_…)`;
});
