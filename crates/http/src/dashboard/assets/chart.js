// Joins and leaves over the last minutes, drawn on a canvas: joins as bars above the axis,
// leaves below it, one bar per bucket, with the time axis labelled in minutes ago. Colours come
// from the stylesheet (`--join`, `--leave`, `--grid`, `--muted`), so the chart follows the theme.

const PAD = { top: 12, right: 12, bottom: 22, left: 34 };

function palette(canvas) {
  const style = getComputedStyle(canvas);
  const read = (name, fallback) => style.getPropertyValue(name).trim() || fallback;
  return {
    join: read("--join", "#16a34a"),
    leave: read("--leave", "#dc2626"),
    grid: read("--grid", "#e5e7eb"),
    text: read("--muted", "#6b7280"),
  };
}

/** A round scale above `max` (1, 2, 5, 10, 20, 50 …). */
function niceMax(max) {
  if (max <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= max);
}

/**
 * Draws `buckets` ([{start, joins, leaves}], oldest first) on `canvas`, sized to its box.
 * @param {HTMLCanvasElement} canvas
 * @param {{start: number, joins: number, leaves: number}[]} buckets
 * @param {number} bucketMs
 */
export function drawActivity(canvas, buckets, bucketMs) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  const colors = palette(canvas);
  ctx.font = "11px system-ui, sans-serif";

  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const mid = PAD.top + plotH / 2;
  const scale = niceMax(Math.max(1, ...buckets.map((b) => Math.max(b.joins, b.leaves))));
  const y = (value) => (value / scale) * (plotH / 2);

  // Grid: the axis, and the scale above and below it.
  ctx.strokeStyle = colors.grid;
  ctx.fillStyle = colors.text;
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const [value, at] of [[scale, PAD.top], [0, mid], [scale, PAD.top + plotH]]) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, Math.round(at) + 0.5);
    ctx.lineTo(PAD.left + plotW, Math.round(at) + 0.5);
    ctx.stroke();
    ctx.fillText(String(value), PAD.left - 6, at);
  }

  const slot = plotW / buckets.length;
  const bar = Math.max(1, slot * 0.7);
  buckets.forEach((bucket, i) => {
    const x = PAD.left + i * slot + (slot - bar) / 2;
    if (bucket.joins) {
      ctx.fillStyle = colors.join;
      ctx.fillRect(x, mid - y(bucket.joins), bar, y(bucket.joins));
    }
    if (bucket.leaves) {
      ctx.fillStyle = colors.leave;
      ctx.fillRect(x, mid + 1, bar, y(bucket.leaves));
    }
  });

  // Time axis: a label every minute, counted back from now.
  ctx.fillStyle = colors.text;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const perMinute = Math.round(60000 / bucketMs);
  for (let i = buckets.length - 1, minutes = 0; i >= 0; i -= perMinute, minutes += 1) {
    const x = PAD.left + (i + 1) * slot;
    ctx.fillText(minutes === 0 ? "now" : `-${minutes}m`, Math.min(x, width - PAD.right - 8), PAD.top + plotH + 6);
  }
}
