// Exact amounts. The API gives amounts as decimal strings of base units because they
// exceed 2^53; they are never converted to Number here, only regrouped and shifted as
// strings, so what the page shows is exactly what the API said.

const UNITS = {
  'nem:xem': { scale: 6, unit: 'XEM', base: 'µXEM' },
  XEM: { scale: 6, unit: 'XEM', base: 'µXEM' },
  BTC: { scale: 8, unit: 'BTC', base: 'sat' },
  ETH: { scale: 18, unit: 'ETH', base: 'wei' },
  USD: { scale: 2, unit: 'USD', base: 'US cents' },
};

/** The unit of a known asset: `{scale, unit, base}`, or null (shown in base units). */
export function unitOf(asset) {
  return (asset && Object.prototype.hasOwnProperty.call(UNITS, asset) && UNITS[asset]) || null;
}

/** The native asset of a chain, when the page has nothing better to go by. */
export function nativeAsset(chain) {
  return { nem: 'nem:xem', bitcoin: 'BTC', ethereum: 'ETH' }[chain] || null;
}

/** The amount as a canonical decimal string, or null when it is not one. */
export function decimal(v) {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) {
    const neg = v.startsWith('-');
    const digits = (neg ? v.slice(1) : v).replace(/^0+(?=\d)/, '');
    return neg && digits !== '0' ? '-' + digits : digits;
  }
  // A JSON number is only exact below 2^53; the API should send strings.
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return null;
}

/** "1234567" → "1,234,567" (any length, sign kept). */
export function group(s) {
  const neg = s.startsWith('-');
  const d = neg ? s.slice(1) : s;
  return (neg ? '-' : '') + d.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Shifts a decimal string `scale` places left, exactly: ("123456789", 6) → "123.456789". */
export function shift(s, scale) {
  const neg = s.startsWith('-');
  let d = neg ? s.slice(1) : s;
  if (scale <= 0) return (neg ? '-' : '') + group(d);
  d = d.padStart(scale + 1, '0');
  const int = d.slice(0, d.length - scale);
  const frac = d.slice(d.length - scale).replace(/0+$/, '');
  return (neg ? '-' : '') + group(int) + (frac ? '.' + frac : '');
}

/**
 * How to show an amount of `asset`: `{raw, text, title}`. `raw` is the API's exact
 * base-unit string; `text` is in the asset's unit when it is known (exact), else grouped
 * base units; `title` always states the base units.
 */
export function formatAmount(v, asset) {
  const raw = decimal(v);
  if (raw === null) return { raw: v == null ? '' : String(v), text: v == null ? '—' : String(v), title: '' };
  const u = unitOf(asset);
  if (!u) {
    const suffix = asset ? ` ${asset} base units` : ' base units';
    return { raw, text: group(raw), title: group(raw) + suffix };
  }
  return { raw, text: `${shift(raw, u.scale)} ${u.unit}`, title: `${group(raw)} ${u.base}` };
}

/** Compares two decimal strings numerically (for scaling bars; never for display). */
export function ratio(part, whole) {
  const p = decimal(part);
  const w = decimal(whole);
  if (p === null || w === null) return 0;
  const W = BigInt(w);
  if (W <= 0n) return 0;
  return Number((BigInt(p) * 1000000n) / W) / 1000000;
}

/** log10 of a decimal string, approximately (for sizes and colours only). */
export function log10(v) {
  const s = decimal(v);
  if (s === null || s === '0' || s.startsWith('-')) return 0;
  const head = Number(s.slice(0, 15));
  return Math.log10(head) + Math.max(0, s.length - 15);
}

/** The larger of two decimal strings. */
export function max(a, b) {
  const x = decimal(a);
  const y = decimal(b);
  if (x === null) return y;
  if (y === null) return x;
  return BigInt(x) >= BigInt(y) ? x : y;
}
