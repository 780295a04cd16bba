// The pack browser: the folder tree of /api/packs as <details> (collapsible, keyboard-native),
// one button per sound, and a filter. A folder that is a pack wears the pack's colour, as on
// the map.

export class PackBrowser {
  /** folderColor(path): the colour of the pack a folder is, or null. */
  constructor({ container, filter, onPick, folderColor = () => null }) {
    Object.assign(this, { container, filter, onPick, folderColor });
    this.buttons = new Map(); // index → button
    this.current = -1;
    filter.addEventListener("input", () => this.#filter(filter.value.trim().toLowerCase()));
  }

  build(tree) {
    this.container.replaceChildren();
    this.buttons.clear();
    const root = this.#node(tree, 0);
    if (!this.buttons.size) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "no sounds";
      this.container.append(empty);
      return;
    }
    this.container.append(...root);
    // a small collection opens its top folders
    if (this.buttons.size <= 200) {
      for (const details of this.container.querySelectorAll(":scope > details")) details.open = true;
    }
  }

  /** Elements for a folder's children and sounds (the root has no <details> of its own). */
  #node(folder, depth) {
    const out = [];
    for (const child of folder.children || []) {
      const details = document.createElement("details");
      details.dataset.path = child.path ?? child.name;
      const summary = document.createElement("summary");
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(countSounds(child));
      const color = this.folderColor(child.path ?? child.name);
      if (color) {
        const swatch = document.createElement("span");
        swatch.className = "sw";
        swatch.style.background = color;
        summary.append(swatch);
      }
      summary.append(child.name || "(root)", count);
      details.append(summary, ...this.#node(child, depth + 1));
      out.push(details);
    }
    if ((folder.sounds || []).length) {
      const list = document.createElement("ul");
      for (const sound of folder.sounds) {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = sound.name;
        button.title = `${folder.path ? `${folder.path}/` : ""}${sound.name} — play and load`;
        button.dataset.sound = String(sound.index);
        button.addEventListener("click", () => this.onPick(sound.index));
        this.buttons.set(sound.index, button);
        li.append(button);
        list.append(li);
      }
      out.push(list);
    }
    return out;
  }

  setCurrent(index) {
    if (index === this.current) return;
    this.buttons.get(this.current)?.classList.remove("current");
    this.current = index;
    const button = this.buttons.get(index);
    if (!button) return;
    button.classList.add("current");
    for (let el = button.parentElement; el && el !== this.container; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    // scroll the tree only (never the page) to show it
    const box = button.getBoundingClientRect();
    const view = this.container.getBoundingClientRect();
    if (box.top < view.top || box.bottom > view.bottom) {
      this.container.scrollTop += box.top - view.top - view.height / 2;
    }
  }

  #filter(text) {
    for (const button of this.buttons.values()) {
      const hit = !text || button.title.toLowerCase().includes(text);
      button.parentElement.hidden = !hit;
    }
    for (const details of this.container.querySelectorAll("details")) {
      const visible = details.querySelector("li:not([hidden])") !== null;
      details.hidden = !visible;
      if (text) details.open = visible;
    }
  }
}

function countSounds(folder) {
  let n = (folder.sounds || []).length;
  for (const child of folder.children || []) n += countSounds(child);
  return n;
}
