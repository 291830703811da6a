// The chart colours the dashboard's and the public page's scripts share (the same series colour on
// both pages): a palette and colors(n), spliced into each script as plain ES5 browser code.
export const CHART_COLORS_JS = String.raw`var palette = ['#2563eb', '#16a34a', '#f59e0b', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#ea580c', '#4b5563'];
  function colors(n) {
    var out = [];
    for (var i = 0; i < n; i++) out.push(palette[i % palette.length]);
    return out;
  }`;
