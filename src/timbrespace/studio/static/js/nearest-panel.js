// The nearest list of the "Current sound" panel: once results settle, the three dataset
// sounds nearest the current state, as buttons that load them.

import { getJSON } from "./api.js";
import { loadSound } from "./browse-panel.js";
import { formatNumber } from "./map.js";
import { setReference } from "./sound-panel.js";
import { $, S, on } from "./state.js";
import { report } from "./status.js";

const SETTLE_MS = 250;
let timer = 0;

/** After results settle, ask the server for the nearest dataset sounds of `entry`'s state. */
function scheduleNearest(entry) {
  clearTimeout(timer);
  $("nearest").replaceChildren();
  if (!entry.state) return;
  timer = setTimeout(async () => {
    try {
      const described = await getJSON(`/api/states/${entry.state}`);
      if (S.current !== entry) return;
      const list = $("nearest");
      list.replaceChildren();
      for (const n of described.nearest.slice(0, 3)) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `${n.sound.split("/").pop()} (${formatNumber(n.distance)})`;
        button.title = `${n.sound} — load it`;
        button.addEventListener("click", () => loadSound(n.index, { preview: false }));
        list.append(button);
      }
      // a result without a dataset sound of its own takes the nearest as its reference
      if (entry.reference === "nearest" && described.nearest.length) {
        entry.reference = described.nearest[0].index;
        setReference(entry.reference);
      }
    } catch (error) {
      report(error);
    }
  }, SETTLE_MS);
}

on("show", scheduleNearest);
