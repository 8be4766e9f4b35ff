() => {
  // Gradio 6.31's upload progress closes its event stream through a stub that only warns "Method not
  // implemented." (gradio-app/gradio#12002), twice per upload; the stream ends by itself once the upload is
  // done, so that one message, exactly, is dropped from the console.
  if (!window.e2rQuietUploads) {
    window.e2rQuietUploads = true;
    const warn = console.warn.bind(console);
    console.warn = (...args) => {
      if (args.length === 1 && args[0] === "Method not implemented.") return;
      warn(...args);
    };
  }

  // Links the same passage across the result columns (rows carry data-pid).
  // Listeners sit on the document, so they keep working when Gradio re-renders the columns.
  const hitOf = (event) => (event.target instanceof Element ? event.target.closest(".e2r-hit") : null);
  const rowsFor = (pid) => document.querySelectorAll(`.e2r-hit[data-pid="${CSS.escape(pid)}"]`);
  const mark = (pid, cls, on) => rowsFor(pid).forEach((row) => row.classList.toggle(cls, on));

  document.addEventListener("mouseover", (event) => {
    const hit = hitOf(event);
    if (hit) mark(hit.dataset.pid, "is-linked", true);
  });
  document.addEventListener("mouseout", (event) => {
    const hit = hitOf(event);
    if (hit && !hit.contains(event.relatedTarget)) mark(hit.dataset.pid, "is-linked", false);
  });
  document.addEventListener("click", (event) => {
    const hit = hitOf(event);
    if (!hit) return;
    const pinned = hit.classList.contains("is-pinned");
    document.querySelectorAll(".e2r-hit.is-pinned").forEach((row) => row.classList.remove("is-pinned"));
    if (!pinned) mark(hit.dataset.pid, "is-pinned", true);
  });

  // A click on a bar of the Prompt lab's influence chart opens that document in the lab's list
  // (the chart is redrawn by Gradio, so each new plot is bound once).
  setInterval(() => {
    const plot = document.querySelector("#prompt-influence .js-plotly-plot");
    if (!plot || plot.e2rBound || typeof plot.on !== "function") return;
    plot.e2rBound = true;
    plot.on("plotly_click", (data) => {
      const pid = data?.points?.[0]?.customdata;
      const row = pid && document.querySelector(`#prompt-lab-info .e2r-hit[data-pid="${CSS.escape(pid)}"]`);
      if (!row) return;
      row.querySelector("details")?.setAttribute("open", "");
      row.scrollIntoView({behavior: "smooth", block: "center"});
    });
  }, 500);

  // The query box keeps at most `maxlength` characters and the browser cuts a longer paste without
  // a word, so say what was kept (the note sits under the box until the query fits again).
  const queryNote = (box, text) => {
    const block = box.closest("#query");
    let note = block.querySelector(".e2r-query-cut");
    if (!note && text) {
      note = document.createElement("p");
      note.className = "e2r-status warn e2r-query-cut";
      note.setAttribute("role", "status");
      block.appendChild(note);
    }
    if (note) {
      note.textContent = text;
      note.hidden = !text;
    }
  };
  document.addEventListener("paste", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLTextAreaElement) || !box.closest("#query") || box.maxLength <= 0) return;
    const pasted = event.clipboardData?.getData("text") ?? "";
    const total = box.value.length - (box.selectionEnd - box.selectionStart) + pasted.length;
    const fmt = (n) => n.toLocaleString("en");
    queryNote(box, total > box.maxLength
      ? `Your query has ${fmt(total)} characters; only the first ${fmt(box.maxLength)} were kept (the query limit).`
      : "");
  });
  document.addEventListener("input", (event) => {
    const box = event.target;
    if (box instanceof HTMLTextAreaElement && box.closest("#query") && box.value.length < box.maxLength) {
      queryNote(box, "");
    }
  });

  // The map's Play button animates frame objects carried inline (Gradio drops named frames), which
  // plotly's slider cannot follow by name: move the slider, and so its label, with every frame.
  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest(".updatemenu-button") : null;
    const gd = button?.closest(".js-plotly-plot");
    if (!gd || gd.e2rankSliderFollows || !window.Plotly || !gd.layout?.sliders?.length) return;
    gd.e2rankSliderFollows = true;
    gd.on("plotly_animatingframe", (event) => {
      const name = event.name ?? event.frame?.name; // frame objects' names come with the frame, not the event
      const index = gd.layout.sliders[0].steps.findIndex((step) => step.label === name);
      if (index >= 0) window.Plotly.relayout(gd, { "sliders[0].active": index });
    });
  }, true);

  // The two result columns start their lists at the same height although their headers differ
  // (metrics with differences, the model note): both headers take the taller one's height.
  const levelHeads = () => {
    const heads = [...document.querySelectorAll("#results .e2r-col-head")];
    heads.forEach((head) => { head.style.minHeight = ""; });
    if (heads.length < 2) return;
    const [left, right] = heads.map((head) => head.getBoundingClientRect());
    if (right.left < left.right) return; // stacked (phone, full lists): nothing to level
    const tallest = Math.max(...heads.map((head) => head.getBoundingClientRect().height));
    heads.forEach((head) => { head.style.minHeight = `${tallest}px`; });
  };
  let levelQueued = false;
  const queueLevel = () => {
    if (levelQueued) return;
    levelQueued = true;
    requestAnimationFrame(() => { levelQueued = false; levelHeads(); });
    setTimeout(levelHeads, 400); // again once Gradio's fade-in of new outputs has settled
  };
  new MutationObserver(queueLevel).observe(document.body, { childList: true, subtree: true });
  window.addEventListener("resize", queueLevel);
  document.addEventListener("toggle", queueLevel, true);

  // Charts follow the page. Width: plotly's own `responsive` listens to the window only, so a chart
  // also resizes when its column does (the sidebar folding, a row wrapping). Theme: each figure carries
  // its light and dark plotly templates in layout.meta (plots.theme_meta); Gradio marks dark mode with
  // body.dark. Both are re-checked after every draw, so a chart Gradio redraws keeps them.
  const pageTheme = () => (document.body.classList.contains("dark") ? "dark" : "light");
  const applyTheme = (gd) => {
    const meta = gd.layout?.meta;
    const want = pageTheme();
    const theme = meta?.e2rThemes?.[want];
    if (!theme || meta.e2rTheme === want || !window.Plotly) return;
    // One update for the template and the ink (marker or line colours of the query's traces), so the
    // draw it triggers already finds the theme applied.
    const ink = meta.e2rInk ?? {};
    const traces = [...new Set(Object.values(ink).flat())];
    const data = Object.fromEntries(Object.entries(ink).map(
      ([path, found]) => [path, traces.map((i) => (found.includes(i) ? theme.ink : undefined))]));
    const layout = { template: theme.template, meta: { ...meta, e2rTheme: want } };
    window.Plotly.update(gd, data, layout, traces.length ? traces : undefined);
  };
  const fitWidth = (gd) => {
    const width = gd.getBoundingClientRect().width;
    if (width > 0 && window.Plotly && gd._fullLayout && Math.abs(gd._fullLayout.width - width) > 1) {
      window.Plotly.Plots.resize(gd);
    }
  };
  const resized = new ResizeObserver((entries) => entries.forEach((entry) => fitWidth(entry.target)));
  const bindCharts = () => {
    document.querySelectorAll(".js-plotly-plot").forEach((gd) => {
      if (!gd.e2rBoundChart && typeof gd.on === "function") {
        gd.e2rBoundChart = true;
        gd.on("plotly_afterplot", () => applyTheme(gd));
        resized.observe(gd);
      }
      applyTheme(gd);
    });
  };
  let chartsQueued = false;
  new MutationObserver(() => {
    if (chartsQueued) return;
    chartsQueued = true;
    requestAnimationFrame(() => { chartsQueued = false; bindCharts(); });
  }).observe(document.body, { childList: true, subtree: true });
  new MutationObserver(bindCharts).observe(document.body, { attributes: true, attributeFilter: ["class"] });

  // On a phone the sidebar covers the page: fold it away once a corpus is indexed.
  window.e2rankFoldSidebarOnPhone = () => {
    const sidebar = document.getElementById("sidebar");
    if (window.matchMedia("(max-width: 768px)").matches && sidebar?.classList.contains("open")) {
      sidebar.querySelector("button")?.click();
    }
  };
}
