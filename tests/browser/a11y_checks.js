// Accessibility checks run inside the page; a test evaluates this file followed by one function call.

// WCAG 2.1 contrast of each visible text element against the first opaque background behind it.
function contrastProblems() {
  const rgb = (text) => (text.match(/[\d.]+/g) || []).map(Number);
  const channel = (v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (node) => {
    for (; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const problems = [];
  for (const node of document.querySelectorAll("body *")) {
    const ownText = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    const skipped = node.closest("svg, button:disabled, [aria-hidden=\"true\"]"); // drawings, disabled, decoration
    if (!ownText || !node.checkVisibility() || skipped) continue;
    const style = getComputedStyle(node);
    const a = luminance(rgb(style.color));
    const b = luminance(background(node));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`${node.tagName} "${node.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return problems;
}

// Form controls and buttons that a screen reader could not name.
function unlabelledControls() {
  return [...document.querySelectorAll("input, select, textarea, button")]
    .filter((c) => c.checkVisibility())
    .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label") && !c.textContent.trim())
    .map((c) => c.outerHTML.slice(0, 80));
}
