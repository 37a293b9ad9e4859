// @ts-check
// Drawing detections: boxes, class names and scores, and — Conditional DETR's mechanism — each
// detection's reference point s with the offset (an arrow) from s to the predicted box centre.

export function labelColor(label, alpha = 1) {
  const hue = (label * 137.508 + 25) % 360;
  return `hsla(${hue.toFixed(1)}, 85%, 55%, ${alpha})`;
}

/**
 * Draws `dets` (boxes in image pixels) onto `ctx`, mapping image pixels with `scale` and an offset.
 * `opts`: {scale, dx, dy, selected (query or null), showRefs, lineWidth, font}.
 */
export function drawDetections(ctx, dets, opts = {}) {
  const { scale = 1, dx = 0, dy = 0, selected = null, showRefs = true } = opts;
  const lw = opts.lineWidth ?? 2;
  const fontPx = opts.fontPx ?? 13;
  const X = (x) => dx + x * scale;
  const Y = (y) => dy + y * scale;
  ctx.save();
  ctx.lineJoin = 'round';
  ctx.font = `600 ${fontPx}px system-ui, -apple-system, "Segoe UI", sans-serif`;
  ctx.textBaseline = 'top';
  // Unselected first so a selected detection draws on top.
  const ordered = [...dets].sort((a, b) => Number(a.query === selected) - Number(b.query === selected) || a.score - b.score);
  for (const d of ordered) {
    const dim = selected !== null && d.query !== selected;
    const color = labelColor(d.label, dim ? 0.35 : 1);
    const [x0, y0, x1, y1] = d.box;
    const bx = X(x0), by = Y(y0), bw = (x1 - x0) * scale, bh = (y1 - y0) * scale;
    ctx.lineWidth = d.query === selected ? lw * 1.8 : lw;
    ctx.strokeStyle = 'rgba(0,0,0,0.45)';
    ctx.strokeRect(bx, by, bw, bh);
    ctx.strokeStyle = color;
    ctx.strokeRect(bx, by, bw, bh);

    if (showRefs && d.referencePoint) {
      const [rx, ry] = d.referencePoint;
      const sx = X(rx), sy = Y(ry);
      const cx = X((x0 + x1) / 2), cy = Y((y0 + y1) / 2);
      arrow(ctx, sx, sy, cx, cy, color, Math.max(1.5, lw * 0.8));
      // Reference point: a white-ringed dot; box centre: a small cross.
      ctx.beginPath();
      ctx.arc(sx, sy, Math.max(3.5, lw * 2), 0, Math.PI * 2);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      ctx.beginPath();
      const c = Math.max(3, lw * 1.6);
      ctx.moveTo(cx - c, cy); ctx.lineTo(cx + c, cy);
      ctx.moveTo(cx, cy - c); ctx.lineTo(cx, cy + c);
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.stroke();
    }

    const text = `${d.labelName} ${(d.score * 100).toFixed(1)}%`;
    const tw = ctx.measureText(text).width + 8;
    const th = fontPx + 6;
    let ty = by - th;
    if (ty < 0) ty = by;
    const tx = Math.max(0, Math.min(bx, ctx.canvas.width - tw));
    ctx.fillStyle = labelColor(d.label, dim ? 0.35 : 0.92);
    ctx.fillRect(tx, ty, tw, th);
    ctx.fillStyle = dim ? 'rgba(0,0,0,0.6)' : '#0b0d12';
    ctx.fillText(text, tx + 4, ty + 3);
  }
  ctx.restore();
}

function arrow(ctx, x0, y0, x1, y1, color, width) {
  const len = Math.hypot(x1 - x0, y1 - y0);
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = width;
  ctx.setLineDash([5, 4]);
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.setLineDash([]);
  if (len > 10) {
    const a = Math.atan2(y1 - y0, x1 - x0);
    const h = Math.min(10, len / 3);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - h * Math.cos(a - 0.45), y1 - h * Math.sin(a - 0.45));
    ctx.lineTo(x1 - h * Math.cos(a + 0.45), y1 - h * Math.sin(a + 0.45));
    ctx.closePath();
    ctx.fill();
  }
  ctx.restore();
}

/** The detection under image point (x, y): the smallest box containing it, else the nearest reference point within `tol`. */
export function hitTest(dets, x, y, tol = 12) {
  let best = null;
  let bestArea = Infinity;
  for (const d of dets) {
    const [x0, y0, x1, y1] = d.box;
    if (x >= x0 && x <= x1 && y >= y0 && y <= y1) {
      const area = (x1 - x0) * (y1 - y0);
      if (area < bestArea) { best = d; bestArea = area; }
    }
  }
  if (best) return best;
  let bestDist = tol;
  for (const d of dets) {
    if (!d.referencePoint) continue;
    const dist = Math.hypot(d.referencePoint[0] - x, d.referencePoint[1] - y);
    if (dist < bestDist) { best = d; bestDist = dist; }
  }
  return best;
}
