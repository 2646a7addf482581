/**
 * OpenAPI path templates (`/pets/{petId}`, `/reports/{id}.json`) compiled into a segment
 * trie. Concrete segments win over templated ones (OAS 3.1 §4.8.8.2: "/pets/mine" is
 * matched before "/pets/{petId}"). Each trie node is visited at most once per lookup
 * (a node sits at one depth and a path has one segment per depth), so a lookup is linear
 * in the trie size whatever the path: no regular expression runs on client text.
 */

interface VarEdge<T> { readonly prefix: string; readonly suffix: string; readonly name: string; readonly node: Node<T> }

interface Node<T> {
  readonly literal: Map<string, Node<T>>;
  readonly vars: Array<VarEdge<T>>;
  value: T | undefined;
  /** Parameter names along the branch, in order (set on terminal nodes). */
  names: readonly string[] | undefined;
}

const newNode = <T>(): Node<T> => ({ literal: new Map(), vars: [], value: undefined, names: undefined });

export interface PathMatch<T> { value: T; params: Record<string, string> }

export class PathMatcher<T> {
  private readonly root: Node<T> = newNode();
  private readonly caps: string[] = [];

  /** Add a template. Throws on a template this matcher cannot read, or an equivalent duplicate. */
  add(template: string, value: T): readonly string[] {
    if (!template.startsWith('/')) throw new Error(`path ${JSON.stringify(template)} must start with /`);
    let node = this.root;
    const names: string[] = [];
    for (const seg of template.slice(1).split('/')) {
      const open = seg.indexOf('{');
      if (open < 0) {
        if (seg.includes('}')) throw new Error(`path ${JSON.stringify(template)}: unbalanced }`);
        let next = node.literal.get(seg);
        if (!next) node.literal.set(seg, (next = newNode()));
        node = next;
        continue;
      }
      const close = seg.indexOf('}', open);
      if (close < 0 || seg.indexOf('{', open + 1) >= 0 || seg.indexOf('}', close + 1) >= 0) {
        throw new Error(`path ${JSON.stringify(template)}: one {parameter} per segment is supported`);
      }
      const name = seg.slice(open + 1, close);
      if (!name) throw new Error(`path ${JSON.stringify(template)}: empty parameter name`);
      names.push(name);
      const prefix = seg.slice(0, open);
      const suffix = seg.slice(close + 1);
      // `/a/{x}` and `/a/{y}` are the same template (OAS 3.1 §4.8.8.2: invalid); share the edge.
      let edge = node.vars.find((e) => e.prefix === prefix && e.suffix === suffix);
      if (!edge) {
        edge = { prefix, suffix, name, node: newNode() };
        node.vars.push(edge);
        // Longer literal parts first: `{id}.json` is tried before `{id}`.
        node.vars.sort((a, b) => (b.prefix.length + b.suffix.length) - (a.prefix.length + a.suffix.length));
      }
      node = edge.node;
    }
    if (node.value !== undefined) throw new Error(`path ${JSON.stringify(template)} is declared twice (templates differ only in parameter names)`);
    node.value = value;
    node.names = names;
    return names;
  }

  match(path: string): PathMatch<T> | undefined {
    if (path.charCodeAt(0) !== 47) return undefined;
    this.caps.length = 0;
    const node = this.walk(this.root, path, 1);
    if (!node) return undefined;
    const params: Record<string, string> = {};
    const names = node.names!;
    for (let i = 0; i < names.length; i++) params[names[i]!] = this.caps[i]!;
    return { value: node.value!, params };
  }

  /** Match path[start..] below `node`; captures go to this.caps (popped on backtrack). */
  private walk(node: Node<T>, path: string, start: number): Node<T> | undefined {
    let end = path.indexOf('/', start);
    if (end < 0) end = path.length;
    const seg = path.slice(start, end);
    const last = end === path.length;
    const lit = node.literal.get(seg);
    if (lit) {
      const r = last ? (lit.value !== undefined ? lit : undefined) : this.walk(lit, path, end + 1);
      if (r) return r;
    }
    for (const e of node.vars) {
      const vlen = seg.length - e.prefix.length - e.suffix.length;
      if (vlen < 1 || !seg.startsWith(e.prefix) || !seg.endsWith(e.suffix)) continue;
      this.caps.push(seg.slice(e.prefix.length, seg.length - e.suffix.length));
      const r = last ? (e.node.value !== undefined ? e.node : undefined) : this.walk(e.node, path, end + 1);
      if (r) return r;
      this.caps.pop();
    }
    return undefined;
  }
}
