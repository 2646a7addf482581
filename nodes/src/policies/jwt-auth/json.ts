/**
 * Duplicate member names in a JWT header or claims set. RFC 7519 §4 lets a parser either
 * reject them or keep the last; JSON.parse keeps the last, but another parser upstream may
 * keep the first, so `{"sub":"alice","sub":"admin"}` would be two identities for one token
 * (JSON interoperability, RFC 8259 §4: "the behavior of software that receives such an
 * object is unpredictable"). The gateway refuses such tokens.
 *
 * Runs only on text JSON.parse already accepted, so the scan can assume valid JSON. Names
 * are compared decoded: "s\u0075b" is "sub".
 */
export function hasDuplicateKeys(json: string): boolean {
  const stack: Array<Set<string> | null> = []; // a Set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (; j < json.length; j++) {
        const d = json.charCodeAt(j);
        if (d === 0x5c) { escaped = true; j++; } else if (d === 0x22) break;
      }
      if (expectKey) {
        const top = stack[stack.length - 1];
        if (top) {
          const key = escaped ? (JSON.parse(json.slice(i, j + 1)) as string) : json.slice(i + 1, j);
          if (top.has(key)) return true;
          top.add(key);
        }
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) { stack.push(new Set()); expectKey = true; }
    else if (c === 0x5b /* [ */) { stack.push(null); expectKey = false; }
    else if (c === 0x7d || c === 0x5d) { stack.pop(); expectKey = false; }
    else if (c === 0x2c /* , */) expectKey = stack[stack.length - 1] != null;
  }
  return false;
}
