/**
 * Where a JSON text goes wrong, as a person looks for it: "line 3, column 5: expected ',' or '}'
 * after a value". JSON.parse says a character position at best (and on Node 20 sometimes nothing),
 * so this small scanner, run only after JSON.parse failed, finds the first error itself.
 */
class At extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function scan(text: string): void {
  let i = 0;
  const what = () => (i >= text.length ? 'the end of the file' : `${JSON.stringify(text[i])}`);
  const skip = () => {
    while (i < text.length && WS.has(text[i]!)) i++;
  };
  const expect = (ch: string, after: string) => {
    skip();
    if (text[i] !== ch) throw new At(i, `expected '${ch}' ${after}, found ${what()}`);
    i++;
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length && text[i] !== '"') {
      const c = text.charCodeAt(i);
      if (c < 0x20) throw new At(i, 'a control character (such as a line break) inside a string: write it escaped');
      if (text[i] === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw new At(i, 'a \\u escape needs 4 hex digits');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) throw new At(i, `unknown escape \\${e ?? ''} in a string`);
        i += 2;
        continue;
      }
      i++;
    }
    if (i >= text.length) throw new At(i, 'a string is not closed (missing ")');
    i++;
  };
  /** An object's members or an array's elements, after the opening bracket, up to `close`. */
  const items = (close: string, item: () => void): void => {
    i++;
    skip();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      skip();
      if (text[i] === close) throw new At(i, `a comma before '${close}' (JSON allows no trailing comma)`);
      item();
      skip();
      if (text[i] === ',') i++;
      else if (text[i] === close) {
        i++;
        return;
      } else throw new At(i, `expected ',' or '${close}' after a value, found ${what()}`);
    }
  };
  const value = (): void => {
    skip();
    const ch = text[i];
    if (ch === '{') return items('}', () => {
      if (text[i] !== '"') throw new At(i, `expected a key in double quotes, found ${what()}`);
      string();
      expect(':', 'after a key');
      value();
    });
    if (ch === '[') return items(']', value);
    if (ch === '"') return string();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) {
      i += m[0].length;
      return;
    }
    throw new At(i, i >= text.length ? 'unexpected end of the file: something is not closed' : `expected a value, found ${what()}`);
  };
  value();
  skip();
  if (i < text.length) throw new At(i, `unexpected ${what()} after the end of the JSON value`);
}

/** "line L, column C: what is wrong" for a text JSON.parse refused (1-based, columns in characters). */
export function jsonErrorAt(text: string): string {
  try {
    scan(text);
  } catch (err) {
    if (!(err instanceof At)) throw err;
    const before = text.slice(0, err.pos);
    const line = before.split('\n').length;
    const column = err.pos - (before.lastIndexOf('\n') + 1) + 1;
    return `line ${line}, column ${column}: ${err.message}`;
  }
  return 'not valid JSON';
}
