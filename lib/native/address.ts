// IP addresses as the batch holds them: four 32-bit words in network byte
// order (IPv4 in word 0), converted only at the edges (config, events).
import net from 'node:net';

// Every handoff converts a few addresses: one scratch buffer, no allocation.
const scratch = new Uint8Array(16);
const scratchWords = new Uint32Array(scratch.buffer);

/** Writes `text` into words[at .. at+4); returns the family (4 or 6). */
export function writeAddress(text: string, words: Uint32Array, at: number): 4 | 6 {
  const family = parseAddress(text, scratch);
  for (let i = 0; i < 4; i++) words[at + i] = scratchWords[i];
  return family;
}

/** Parses an IPv4/IPv6 address into 16 bytes (IPv4 in the first 4). */
export function parseAddress(text: string, out: Uint8Array): 4 | 6 {
  out.fill(0);
  if (parseDottedQuad(text, out)) return 4;
  const family = net.isIP(text);
  if (family === 6) {
    let [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
    const parse = (s: string | undefined): number[] => {
      if (!s) return [];
      const groups: number[] = [];
      for (const part of s.split(':')) {
        if (part.includes('.')) {
          const v4 = part.split('.').map(Number);
          groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        } else {
          groups.push(parseInt(part, 16));
        }
      }
      return groups;
    };
    const h = parse(head);
    const t = parse(tail);
    const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
    groups.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
    return 6;
  }
  throw new TypeError(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`);
}

/**
 * An IPv4 address as net.isIP takes it (four decimal parts, 0-255, no
 * leading zeros) into out[0..4); false for anything else. A loop over the
 * characters, where isIP runs a regular expression.
 */
function parseDottedQuad(text: string, out: Uint8Array): boolean {
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) { // '.'
      if (digits === 0 || dots === 3) return false;
      out[dots++] = part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return false; // a leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return false;
    } else {
      return false;
    }
  }
  if (digits === 0 || dots !== 3) return false;
  out[3] = part;
  return true;
}

/** Formats words[at .. at+4) of the given family as text. */
export function formatAddress(words: Uint32Array, at: number, family: number): string {
  const bytes = scratch;
  for (let i = 0; i < 4; i++) scratchWords[i] = words[at + i];
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
