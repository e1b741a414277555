// The timeline: one bar per bucket, its height the taint that moved in it, buckets in
// which taint left through an exit drawn in the exit colour with the exited part on top.
// Inline SVG built node by node (no markup strings, nothing inline for the CSP to refuse).

import { max, ratio } from './amount.js';
import { h, s, fmtTime, count } from './dom.js';
import { formatAmount } from './amount.js';

const W = 960;
const H = 170;
const PAD_L = 8;
const PAD_R = 8;
const PAD_T = 10;
const PAD_B = 26;

export function renderTimeline(tl, asset) {
  const buckets = Array.isArray(tl && tl.buckets) ? tl.buckets : [];
  if (buckets.length === 0) return h('p', { class: 'muted' }, 'No tainted movement in the window.');
  let top = '0';
  for (const b of buckets) top = max(top, b.taint);
  const plotW = W - PAD_L - PAD_R;
  const plotH = H - PAD_T - PAD_B;
  const bw = plotW / buckets.length;
  const bars = [];
  buckets.forEach((b, i) => {
    const x = PAD_L + i * bw;
    const hTaint = Math.max(ratio(b.taint, top) * plotH, b.taint && b.taint !== '0' ? 1.5 : 0);
    const exited = b.exited && b.exited !== '0';
    const hExit = exited ? Math.max(ratio(b.exited, top) * plotH, 1.5) : 0;
    const tip =
      `${fmtTime(b.start)} – ${fmtTime(b.end)}\n` +
      `${count(b.movements)} movements\n` +
      `taint moved: ${formatAmount(b.taint, asset).text}` +
      (exited ? `\nexited: ${formatAmount(b.exited, asset).text}` : '');
    bars.push(
      s(
        'g',
        { class: exited ? 'bucket exit' : 'bucket', 'data-taint': b.taint, 'data-exited': b.exited },
        s('rect', { class: 'hit', x: x.toFixed(2), y: PAD_T, width: bw.toFixed(2), height: plotH }),
        s('rect', {
          class: 'bar',
          x: (x + bw * 0.1).toFixed(2),
          y: (PAD_T + plotH - hTaint).toFixed(2),
          width: Math.max(bw * 0.8, 0.5).toFixed(2),
          height: hTaint.toFixed(2),
        }),
        exited
          ? s('rect', {
              class: 'bar-exit',
              x: (x + bw * 0.1).toFixed(2),
              y: (PAD_T + plotH - hExit).toFixed(2),
              width: Math.max(bw * 0.8, 0.5).toFixed(2),
              height: hExit.toFixed(2),
            })
          : null,
        s('title', null, tip),
      ),
    );
  });
  const axis = s(
    'g',
    { class: 'axis' },
    s('line', { x1: PAD_L, x2: W - PAD_R, y1: PAD_T + plotH + 0.5, y2: PAD_T + plotH + 0.5 }),
    s('text', { x: PAD_L, y: H - 8, 'text-anchor': 'start' }, fmtTime(tl.start)),
    s('text', { x: W - PAD_R, y: H - 8, 'text-anchor': 'end' }, fmtTime(tl.end)),
  );
  const svg = s(
    'svg',
    { class: 'timeline', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Taint moved per time bucket' },
    bars,
    axis,
  );
  const exits = buckets.filter((b) => b.exited && b.exited !== '0').length;
  return h(
    'div',
    { class: 'timeline-wrap' },
    svg,
    h(
      'p',
      { class: 'legend' },
      h('span', { class: 'swatch taint' }),
      'taint moved',
      h('span', { class: 'swatch exit' }),
      `exited (${exits} of ${buckets.length} buckets)`,
      h('span', { class: 'muted' }, ` · highest bucket ${formatAmount(top, asset).text}`),
    ),
  );
}
