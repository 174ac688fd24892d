// Maps a config key path (['connections', 0, 'target']) back to a line and column of the YAML source,
// so that every config error points at the text the operator has to fix.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Pair } from 'yaml';

export type KeyPath = ReadonlyArray<string | number>;

export interface Position {
  line: number;
  col: number;
}

/** `connections[0].target.password` */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(top level)';
}

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  pos(offset: number): Position {
    const p = this.lines.linePos(offset);
    return { line: p.line, col: p.col };
  }

  /**
   * Where a path is: its value node when present; for a missing key, the key naming its nearest
   * existing parent (or that parent's first line). `which: 'key'` points at the last key itself.
   */
  locate(path: KeyPath, which: 'value' | 'key' = 'value'): Position {
    let node: unknown = this.doc.contents;
    let best = this.start(node) ?? { line: 1, col: 1 };
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      node = this.deref(node);
      if (isMap(node)) {
        const pair = node.items.find((p) => keyOf(p) === String(seg));
        if (!pair) return best;
        const keyPos = this.start(pair.key) ?? best;
        if (last && which === 'key') return keyPos;
        if (pair.value === null || pair.value === undefined) return keyPos;
        // a missing key further down is reported at the key that names its parent
        best = last ? (this.start(pair.value) ?? keyPos) : keyPos;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        node = node.items[seg];
        best = this.start(node) ?? best;
      } else {
        return best;
      }
    }
    return best;
  }

  private start(n: unknown): Position | null {
    const r = (n as { range?: [number, number, number] } | null | undefined)?.range;
    return r ? this.pos(r[0]) : null;
  }

  private deref(node: unknown): unknown {
    if (isAlias(node)) return node.resolve(this.doc) ?? node;
    return node;
  }
}

function keyOf(p: Pair): string | undefined {
  return isScalar(p.key) ? String(p.key.value) : undefined;
}
