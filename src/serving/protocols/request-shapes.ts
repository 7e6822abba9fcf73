// An Open Inference client sends the same request again and again with other values: tritonclient's binary requests
// repeat their JSON header byte for byte, and JSON requests differ only inside each input's "data" list. Parsing that
// JSON is most of what one Open Inference record costs beyond a record in modelship's own format (docs/formats.md,
// "Cost of each door"), so an endpoint keeps the last few request shapes it parsed and, for a request of a known
// shape, parses only the contents of its data lists.
//
// A shape is a parsed request and its text around its data lists. A request has that shape when its text is that
// text with other lists in between, each without brackets, and the lists, read alone, are valid JSON. Then parsing
// the whole text would give the shape's request with those lists as data: a JSON value (the list) put in the place
// of another value leaves the rest of the text read as before. Whatever has no known shape is parsed whole, as it was.

/** A parsed Open Inference JSON header. */
export interface ParsedRequest {
  /** The parsed header; shared by every request of its shape, so never changed. */
  header: unknown;
  /** Where the request matched a known shape: each input's data list by the input's index (the header's are the shape's). */
  data?: (unknown[] | undefined)[];
}

interface Shape {
  /** A request without data lists (binary tensors): its bytes. */
  bytes: Buffer;
  /** A request with data lists: its text around them, each list's contents captured. */
  pattern?: RegExp;
  header: unknown;
  /** The index of the input whose data each captured list is. */
  slots: number[];
  inputs: number;
  used: boolean;
}

/** Each "data" key with a list, in a text without escapes (where every quote delimits a string). */
const DATA_LIST = /"data"\s*:\s*\[/g;
/** Longest text around the data lists kept as a shape. */
const MAX_SHAPE_CHARS = 65_536;
/** How many requests without a known shape may go by before another is learned, at most. */
const MAX_SKIP = 255;

/** The last few request shapes of one endpoint, most recently used first. */
export class RequestShapes {
  private shapes: Shape[] = [];
  /** Requests without a known shape to parse whole before learning from one (grows while learned shapes go unused). */
  private skip = 0;
  private backoff = 0;
  /** How many shapes were learned (tests read it). */
  learned = 0;

  constructor(private readonly size = 4) {}

  /**
   * The request in the first `length` bytes of `body`, from a known shape when it has one; throws JSON.parse's
   * SyntaxError on invalid JSON.
   */
  parse(body: Buffer, length = body.length): ParsedRequest {
    let text: string | undefined;
    for (let i = 0; i < this.shapes.length; i++) {
      const shape = this.shapes[i]!;
      let data: (unknown[] | undefined)[] | undefined;
      // A header without data lists is compared as bytes, never decoded.
      if (!shape.pattern) data = shape.bytes.length === length && body.compare(shape.bytes, 0, length, 0, length) === 0 ? [] : undefined;
      else data = dataOf(shape, shape.pattern, (text ??= body.toString('utf8', 0, length)));
      if (data === undefined) continue;
      if (i > 0) this.shapes.splice(0, 0, ...this.shapes.splice(i, 1));
      if (!shape.used) [shape.used, this.backoff] = [true, 0];
      return { header: shape.header, data };
    }
    text ??= body.toString('utf8', 0, length);
    const header: unknown = JSON.parse(text);
    if (this.skip > 0) this.skip--;
    else {
      const shape = shapeOf(text, header);
      if (shape) {
        this.shapes = [shape, ...this.shapes].slice(0, this.size);
        this.learned++;
      }
      // A client whose every request has a shape of its own (another row count, another id) is learned from ever
      // more rarely.
      this.skip = this.backoff;
      this.backoff = Math.min(this.backoff * 2 + 1, MAX_SKIP);
    }
    return { header };
  }
}

/** The data lists of `text` when it has `shape`, by input index, else undefined. */
function dataOf(shape: Shape, pattern: RegExp, text: string): (unknown[] | undefined)[] | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  let joined = '[[' + match[1]!;
  for (let k = 2; k < match.length; k++) joined += '],[' + match[k]!;
  let lists: unknown;
  try {
    lists = JSON.parse(joined + ']]');
  } catch {
    return undefined;
  }
  // A string running from one list into the next would have swallowed the "],[" between them: fewer lists.
  if (!Array.isArray(lists) || lists.length !== shape.slots.length) return undefined;
  const data = new Array<unknown[] | undefined>(shape.inputs);
  for (let k = 0; k < shape.slots.length; k++) data[shape.slots[k]!] = lists[k] as unknown[];
  return data;
}

/**
 * The shape of a parsed request, or undefined when its text cannot be cut safely: escapes anywhere (a quote inside
 * a string could then look like a key), a "data" list other than one per input that has data, or a list whose first
 * "]" does not end it (a nested list, a bracket inside a string).
 */
function shapeOf(text: string, header: unknown): Shape | undefined {
  if (text.includes('\\') || header === null || typeof header !== 'object') return undefined;
  const inputs = (header as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs)) return undefined;
  const slots: number[] = [];
  inputs.forEach((input: { data?: unknown } | null, i) => (Array.isArray(input?.data) ? slots.push(i) : undefined));
  const keys = [...text.matchAll(DATA_LIST)];
  if (keys.length !== slots.length) return undefined;
  const around: string[] = [];
  let at = 0;
  for (let k = 0; k < keys.length; k++) {
    const start = keys[k]!.index + keys[k]![0].length;
    const end = text.indexOf(']', start);
    const contents = text.slice(start, end);
    if (end < 0 || !sameLength(contents, (inputs[slots[k]!] as { data: unknown[] }).data.length)) return undefined;
    around.push(text.slice(at, start));
    at = end;
  }
  around.push(text.slice(at));
  if (around.reduce((chars, part) => chars + part.length, 0) > MAX_SHAPE_CHARS) return undefined;
  const pattern = slots.length ? new RegExp(`^${around.map(escapeRegExp).join('([^\\[\\]]*)')}$`) : undefined;
  return { bytes: pattern ? EMPTY : Buffer.from(text), pattern, header, slots, inputs: inputs.length, used: false };
}

/** Whether `contents` read as a JSON list has `length` values (cut at a "]" that does not end it, it is invalid). */
function sameLength(contents: string, length: number): boolean {
  try {
    const list: unknown = JSON.parse(`[${contents}]`);
    return Array.isArray(list) && list.length === length;
  } catch {
    return false;
  }
}

const EMPTY = Buffer.alloc(0);
const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
