// The flow graph: sigma 3 (WebGL) over a graphology multigraph. The server lays the flow
// out in layers (x = hop, y = rank by taint); this only scales that layout to the
// container, never moves nodes by force.

import { MultiDirectedGraph } from 'graphology';
import Sigma from 'sigma';
import { log10 } from './amount.js';
import { short, s } from './dom.js';

export const KIND_COLOURS = {
  seed: '#c62828',
  holder: '#ef8a17',
  exit: '#5e35b1',
  dust: '#9e9e9e',
};
const FADED = '#e4e4e8';
const EDGE = '#c9cdd6';
const EDGE_HOT = '#3c4658';

/** A label short enough to draw: "hacker account 2 (stand-in for N…)" → "hacker account 2". */
function shortLabel(label) {
  const s = String(label);
  const cut = s.indexOf(' (');
  const head = cut > 0 ? s.slice(0, cut) : s;
  return head.length > 28 ? head.slice(0, 27) + '…' : head;
}

/**
 * Where to draw each node, from the server's layers: one band per distinct `x` (hop),
 * left to right; inside a band, nodes in the server's `y` order (rank by taint), top
 * first. A band with more nodes than fit in one column wraps them row by row into
 * several columns, so that thousands of nodes stay apart and the most tainted stay on
 * top. Coordinates are in pixels of a `width` × `height` stage (y up, as in sigma).
 */
export function layout(nodes, width, height) {
  const pad = 24;
  const W = Math.max(100, width - 2 * pad);
  const H = Math.max(100, height - 2 * pad);
  const bands = new Map();
  nodes.forEach((n, i) => {
    const x = Number(n.x) || 0;
    if (!bands.has(x)) bands.set(x, []);
    bands.get(x).push(i);
  });
  const xs = [...bands.keys()].sort((a, b) => a - b);
  const bw = W / Math.max(1, xs.length);
  // The most crowded band sets how tightly every band packs.
  let crowd = 1;
  for (const idx of bands.values()) crowd = Math.max(crowd, idx.length);
  // Rows at least a label apart while that fits; a very crowded band packs tighter.
  const cell = Math.sqrt((bw * 0.8 * H) / crowd) || 40;
  const minRow = Math.max(2, Math.min(16, cell));
  const perCol = Math.max(1, Math.floor(H / minRow) + 1);
  const pos = new Array(nodes.length);
  let room = 44;
  xs.forEach((x, b) => {
    const idx = bands.get(x).sort((i, j) => (Number(nodes[i].y) || 0) - (Number(nodes[j].y) || 0) || i - j);
    const cols = Math.max(1, Math.ceil(idx.length / perCol));
    const rows = Math.ceil(idx.length / cols);
    const cx = pad + bw * (b + 0.5);
    const colGap = cols > 1 ? Math.min(40, (bw * 0.8) / (cols - 1)) : Infinity;
    const rowGap = rows > 1 ? Math.min(H / (rows - 1), Math.max(minRow, 44)) : Infinity;
    room = Math.min(room, colGap, rowGap);
    const top = pad + (rows > 1 ? (H - rowGap * (rows - 1)) / 2 : H / 2);
    idx.forEach((i, k) => {
      const r = Math.floor(k / cols);
      const c = k % cols;
      pos[i] = {
        x: cx + (cols > 1 ? (c - (cols - 1) / 2) * colGap : 0),
        y: -(top + (rows > 1 ? r * rowGap : 0)),
      };
    });
  });
  return { pos, maxRadius: room * 0.4 };
}

/**
 * Mounts a flow graph in `container`. `onSelect(node | null)` is called on a click on a
 * node (its attributes, with `id`) or on the background. Returns a controller.
 */
export function createFlowGraph(container, { onSelect, onRendered }) {
  const graph = new MultiDirectedGraph({ allowSelfLoops: true });
  let hovered = null;
  let neighbours = new Set();
  let selected = null;

  const renderer = new Sigma(graph, container, {
    defaultEdgeType: 'arrow',
    labelFont: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
    labelSize: 12,
    labelWeight: '500',
    labelColor: { color: '#1d2330' },
    labelRenderedSizeThreshold: 6,
    labelDensity: 0.5,
    zIndex: true,
    minCameraRatio: 0.005,
    maxCameraRatio: 4,
    stagePadding: 24,
    // Thousands of overlapping edges dominate a frame while the camera moves (software
    // WebGL: 4.6 → 9.6 fps at 3,664 nodes); they come back when it stops.
    hideEdgesOnMove: graph.size > 1000,
    allowInvalidContainer: true,
    nodeReducer(node, data) {
      const res = { ...data };
      const focus = hovered || selected;
      if (focus && node !== focus && !neighbours.has(node)) {
        res.color = FADED;
        res.label = '';
        res.zIndex = 0;
        res.forceLabel = false;
      } else if (focus) {
        res.zIndex = 2;
        res.forceLabel = neighbours.size < 40 || node === focus;
      }
      if (node === selected || node === hovered) res.highlighted = true;
      return res;
    },
    edgeReducer(edge, data) {
      const res = { ...data };
      const focus = hovered || selected;
      if (focus) {
        const [s, t] = graph.extremities(edge);
        if (s === focus || t === focus) {
          res.color = EDGE_HOT;
          res.zIndex = 2;
        } else {
          res.hidden = true;
        }
      }
      return res;
    },
  });

  function focusOn(node) {
    neighbours = new Set(node && graph.hasNode(node) ? graph.neighbors(node) : []);
  }

  renderer.on('enterNode', ({ node }) => {
    hovered = node;
    focusOn(node);
    container.style.cursor = 'pointer';
    renderer.refresh({ skipIndexation: true });
  });
  renderer.on('leaveNode', () => {
    hovered = null;
    focusOn(selected);
    container.style.cursor = '';
    renderer.refresh({ skipIndexation: true });
  });
  renderer.on('clickNode', ({ node }) => {
    selected = node;
    focusOn(node);
    renderer.refresh({ skipIndexation: true });
    onSelect({ id: node, ...graph.getNodeAttributes(node) });
  });
  renderer.on('clickStage', () => {
    if (selected === null) return;
    selected = null;
    focusOn(hovered);
    renderer.refresh({ skipIndexation: true });
    onSelect(null);
  });
  renderer.on('afterRender', () => onRendered && onRendered());

  /** Replaces the drawn graph by a FlowGraph answer of the API. */
  function setData(fg) {
    const nodes = (Array.isArray(fg.nodes) ? fg.nodes : []).filter(
      (n) => n !== null && typeof n === 'object' && n.id !== undefined,
    );
    const edges = Array.isArray(fg.edges) ? fg.edges : [];
    graph.clear();
    const rect = container.getBoundingClientRect();
    const width = rect.width > 0 ? rect.width : 900;
    const height = rect.height > 0 ? rect.height : 560;
    const { pos, maxRadius } = layout(nodes, width, height);
    // The stage, not the nodes' extent, is what fits the view: a small flow keeps its
    // spacing instead of being stretched to the corners.
    renderer.setCustomBBox({ x: [0, width], y: [-height, 0] });
    let minS = Infinity;
    let maxS = -Infinity;
    for (const n of nodes) {
      const sz = Number(n.size) || 0;
      minS = Math.min(minS, sz);
      maxS = Math.max(maxS, sz);
    }
    const maxPx = Math.max(1.5, Math.min(16, maxRadius));
    const minPx = Math.max(1, Math.min(3, maxPx / 2));
    const px = (sz) =>
      maxS > minS ? minPx + ((maxPx - minPx) * ((Number(sz) || 0) - minS)) / (maxS - minS) : (minPx + maxPx) / 2;
    // Small graphs name every labelled node; big ones leave labels to sigma's grid.
    const labelAll = nodes.length <= 60;
    nodes.forEach((n, i) => {
      const id = String(n.id);
      if (graph.hasNode(id)) return;
      const kind = typeof n.kind === 'string' ? n.kind : 'holder';
      // The seed is where the money starts: never drawn smallest, whatever its own taint.
      const size = kind === 'seed' ? Math.max(px(n.size), (minPx + maxPx) / 2) : px(n.size);
      graph.addNode(id, {
        x: pos[i].x,
        y: pos[i].y,
        size,
        color: KIND_COLOURS[kind] || KIND_COLOURS.holder,
        label: n.label ? shortLabel(n.label) : short(n.address),
        forceLabel: labelAll && (kind === 'seed' || kind === 'exit' || (!!n.label && kind !== 'dust')),
        zIndex: kind === 'seed' || kind === 'exit' ? 1 : 0,
        address: n.address,
        kind,
        name: n.label ?? null,
        taint: n.taint,
        holding: n.holding ?? null,
        hop: n.hop ?? null,
        apiX: n.x,
        apiY: n.y,
        apiSize: n.size,
      });
    });
    const logs = edges.map((e) => log10(e && e.taint));
    let lo = Infinity;
    let hi = -Infinity;
    for (const l of logs) {
      lo = Math.min(lo, l);
      hi = Math.max(hi, l);
    }
    edges.forEach((e, i) => {
      if (!e || !graph.hasNode(String(e.source)) || !graph.hasNode(String(e.target))) return;
      const key = e.id !== undefined ? String(e.id) : `e${i}`;
      if (graph.hasEdge(key)) return;
      const w = hi > lo ? (logs[i] - lo) / (hi - lo) : 0.5;
      graph.addDirectedEdgeWithKey(key, String(e.source), String(e.target), {
        size: 0.6 + 2.4 * w,
        color: EDGE,
        taint: e.taint,
        value: e.value,
        count: e.count,
        txs: e.txs,
        outcome: e.outcome,
      });
    });
    if (selected !== null && !graph.hasNode(selected)) selected = null;
    focusOn(hovered && graph.hasNode(hovered) ? hovered : selected);
    renderer.refresh();
  }

  /** Where node `id` is drawn, in CSS pixels from the page viewport's top-left. */
  function nodeViewportPosition(id) {
    if (!graph.hasNode(id)) return null;
    const a = graph.getNodeAttributes(id);
    const p = renderer.graphToViewport({ x: a.x, y: a.y });
    const r = container.getBoundingClientRect();
    const d = renderer.getNodeDisplayData(id);
    return {
      x: r.left + p.x,
      y: r.top + p.y,
      radius: d ? renderer.scaleSize(d.size) : a.size,
    };
  }

  /**
   * The graph as the user sees it now, as a static SVG: WebGL canvases do not print, so
   * the page swaps this in for printing.
   */
  function toSVG() {
    // Sigma's own size: while printing, the container itself may already be hidden.
    const dim = renderer.getDimensions();
    const w = Math.max(1, Math.round(dim.width));
    const hgt = Math.max(1, Math.round(dim.height));
    const at = (id) => {
      const a = graph.getNodeAttributes(id);
      return renderer.graphToViewport({ x: a.x, y: a.y });
    };
    const inside = (p) => p.x >= -20 && p.y >= -20 && p.x <= w + 20 && p.y <= hgt + 20;
    const pos = new Map();
    graph.forEachNode((id) => pos.set(id, at(id)));
    const lines = [];
    graph.forEachEdge((e, attrs, source, target) => {
      const a = pos.get(source);
      const b = pos.get(target);
      if (!inside(a) && !inside(b)) return;
      lines.push(
        s('line', {
          x1: a.x.toFixed(1),
          y1: a.y.toFixed(1),
          x2: b.x.toFixed(1),
          y2: b.y.toFixed(1),
          stroke: '#aab0bc',
          'stroke-width': Math.max(0.5, attrs.size / 2).toFixed(2),
          'marker-end': 'url(#arrow)',
        }),
      );
    });
    const dots = [];
    const labels = [];
    graph.forEachNode((id, a) => {
      const p = pos.get(id);
      if (!inside(p)) return;
      const d = renderer.getNodeDisplayData(id);
      const rad = d ? renderer.scaleSize(d.size) : a.size;
      dots.push(s('circle', { cx: p.x.toFixed(1), cy: p.y.toFixed(1), r: rad.toFixed(1), fill: a.color }));
      if (a.forceLabel || (a.name && rad >= 6)) {
        labels.push(s('text', { x: (p.x + rad + 3).toFixed(1), y: (p.y + 4).toFixed(1) }, a.label));
      }
    });
    return s(
      'svg',
      { class: 'graph-svg', viewBox: `0 0 ${w} ${hgt}`, width: '100%', role: 'img', 'aria-label': 'Flow graph' },
      s(
        'defs',
        null,
        s(
          'marker',
          { id: 'arrow', viewBox: '0 0 10 10', refX: '10', refY: '5', markerWidth: '5', markerHeight: '5', orient: 'auto-start-reverse' },
          s('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#8a91a0' }),
        ),
      ),
      s('g', null, lines),
      s('g', null, dots),
      s('g', { class: 'graph-svg-labels' }, labels),
    );
  }

  function select(id) {
    selected = id && graph.hasNode(id) ? id : null;
    focusOn(selected);
    renderer.refresh({ skipIndexation: true });
  }

  return {
    graph,
    renderer,
    setData,
    select,
    nodeViewportPosition,
    toSVG,
    zoomIn: () => renderer.getCamera().animatedZoom({ duration: 200 }),
    zoomOut: () => renderer.getCamera().animatedUnzoom({ duration: 200 }),
    reset: () => renderer.getCamera().animatedReset({ duration: 200 }),
    kill: () => renderer.kill(),
  };
}
