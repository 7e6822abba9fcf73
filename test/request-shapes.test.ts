// A request of a known shape has only its data lists parsed (src/serving/protocols/request-shapes.ts). Whatever a
// request holds, what the endpoint reads must be what JSON.parse reads from the whole text, or the same error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestShapes, type ParsedRequest } from '../src/serving/protocols/request-shapes';

/** The request as the door reads it: the header, each input's data taken from `data` where the request has it. */
function read({ header, data }: ParsedRequest): unknown {
  if (!data) return header;
  const request = header as { inputs: object[] };
  return { ...request, inputs: request.inputs.map((input, i) => (data[i] ? { ...input, data: data[i] } : input)) };
}

/** What parsing `text` gives, read as the door reads it, or the error's class. */
function outcome(shapes: RequestShapes, text: string): unknown {
  try {
    return { request: read(shapes.parse(Buffer.from(text))) };
  } catch (error) {
    return { error: (error as Error).name };
  }
}

function wholeParse(text: string): unknown {
  try {
    return { request: JSON.parse(text) };
  } catch (error) {
    return { error: (error as Error).name };
  }
}

const tensor = (name: string, data: unknown[], datatype = 'FP64') => ({ name, shape: [data.length], datatype, data });
const request = (...data: unknown[][]) => JSON.stringify({ inputs: data.map((values, i) => tensor(`c${i}`, values, typeof values[0] === 'string' ? 'BYTES' : 'FP64')) });

/** A small random generator (mulberry32), so a failure shows again with the same seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('request shapes', () => {
  it('read a request of a known shape from its data lists alone, and as JSON.parse reads it', () => {
    const shapes = new RequestShapes();
    const first = shapes.parse(Buffer.from(request([41], ['Lyon'], [null])));
    assert.equal(first.data, undefined, 'the first of its shape is parsed whole');
    assert.equal(shapes.learned, 1);
    const text = request([52.5e-3], ['Zürich "Süd"\\ }'], [true]);
    const next = shapes.parse(Buffer.from(text));
    assert.deepEqual(next.data, [[52.5e-3], ['Zürich "Süd"\\ }'], [true]]);
    assert.deepEqual(read(next), JSON.parse(text));
    // A bracket inside a value: the text is parsed whole.
    const bracket = request([1], ['a]'], [null]);
    assert.equal(shapes.parse(Buffer.from(bracket)).data, undefined);
    assert.deepEqual(outcome(shapes, bracket), wholeParse(bracket));
    // Other row counts are another shape.
    assert.equal(shapes.parse(Buffer.from(request([1, 2], ['a', 'b'], [null, null]))).data, undefined);
  });

  it('compare a header without data lists (binary tensors) as bytes', () => {
    const shapes = new RequestShapes();
    const header = JSON.stringify({ inputs: [{ name: 'Age', shape: [1], datatype: 'FP64', parameters: { binary_data_size: 8 } }], parameters: { binary_data_output: true } });
    const body = Buffer.concat([Buffer.from(header), Buffer.alloc(8)]);
    assert.equal(shapes.parse(body, header.length).data, undefined);
    const again = shapes.parse(body, header.length);
    assert.deepEqual(again.data, []);
    assert.deepEqual(read(again), JSON.parse(header));
    // One byte more of header is another request.
    assert.throws(() => shapes.parse(body, header.length + 1), SyntaxError);
  });

  it('learn no shape where cutting the text could misread it', () => {
    const cases = {
      'an escape in the text': JSON.stringify({ inputs: [tensor('a\\"data', [1])] }),
      'a bracket inside a data string': request(['x]y']),
      'nested data lists': JSON.stringify({ inputs: [tensor('a', [[1], [2]])] }),
      'a "data" list outside the inputs': JSON.stringify({ inputs: [tensor('a', [1])], parameters: { data: [1] } }),
      'an input with its "data" twice': '{"inputs":[{"name":"a","shape":[1],"datatype":"FP64","data":[1],"data":[2]}]}',
    };
    for (const [why, text] of Object.entries(cases)) {
      const shapes = new RequestShapes();
      assert.deepEqual(outcome(shapes, text), wholeParse(text), why);
      assert.deepEqual(outcome(shapes, text), wholeParse(text), why);
      assert.equal(shapes.learned, 0, why);
    }
  });

  it('read every text that fits a known shape as JSON.parse reads it, or refuse it as JSON.parse does', () => {
    // Texts made from a shape's text around its lists with random contents in between, from the characters that can
    // end a string or a list early (quotes, escapes, commas, braces), valid or not.
    const shapes = new RequestShapes();
    const base = request([1], ['a'], [2, 3]);
    shapes.parse(Buffer.from(base));
    const around = base.split(/(?<="data":\[)[^\]]*(?=\])/);
    assert.equal(around.length, 4);
    const next = random(21);
    const pieces = ['1', '-2.5e3', '"a"', '"', '\\"', '\\\\', ',', ' ', 'null', '{', '}', ':', 'true', '"x,y"', '\\u0041', 'é', ']', '['];
    let valid = 0;
    let matched = 0;
    for (let n = 0; n < 20_000; n++) {
      const lists = [0, 1, 2].map(() => Array.from({ length: Math.floor(next() * 4) }, () => pieces[Math.floor(next() * pieces.length)]).join(''));
      const text = around[0] + lists.map((list, i) => list + around[i + 1]).join('');
      const expected = wholeParse(text);
      let got: unknown;
      try {
        const result = shapes.parse(Buffer.from(text));
        if (result.data) matched++;
        got = { request: read(result) };
      } catch (error) {
        got = { error: (error as Error).name };
      }
      assert.deepEqual(got, expected, text);
      if (!('error' in (expected as object))) valid++;
    }
    // The test means something only if both kinds of text came up often.
    assert.ok(valid > 500 && matched > 500 && 20_000 - valid > 500, `valid ${valid}, matched ${matched}`);
  });

  it('learn ever more rarely from a client whose every request has a shape of its own, and again once a shape is used', () => {
    const shapes = new RequestShapes();
    for (let n = 1; n <= 100; n++) shapes.parse(Buffer.from(request(Array<number>(n).fill(1))));
    assert.ok(shapes.learned <= 8, `learned ${shapes.learned} of 100 shapes`);
    // A steady client is still learned (within the longest wait), and then every request of it is read by its shape.
    const steady = request([7], ['x']);
    let hits = 0;
    for (let n = 0; n < 600; n++) if (shapes.parse(Buffer.from(steady)).data) hits++;
    assert.ok(hits >= 600 - 256, `hits ${hits}`);
  });
});
