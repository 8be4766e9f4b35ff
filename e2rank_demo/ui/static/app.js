() => {
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

  // On a phone the sidebar covers the page: fold it away once a corpus is indexed.
  window.e2rankFoldSidebarOnPhone = () => {
    const sidebar = document.getElementById("sidebar");
    if (window.matchMedia("(max-width: 768px)").matches && sidebar?.classList.contains("open")) {
      sidebar.querySelector("button")?.click();
    }
  };
}
