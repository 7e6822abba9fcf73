// The floor for bench/endpoint.ts: a bare node:http server calling onnxruntime-node, with no auth, validation
// or routing (records still become tensors the same way). Usage: node --import tsx bench/floor-server.ts MODEL CONTRACT PORT
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { OnnxModel, type InputContract } from '../src/model/input-contract';

async function main() {
  const [modelPath, contractPath, port] = process.argv.slice(2);
  const model = await OnnxModel.load(modelPath!, JSON.parse(readFileSync(contractPath!, 'utf8')) as InputContract);
  createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const probabilities = Array.from(await model.probabilities(Array.isArray(body) ? body : [body]));
    const text = JSON.stringify({ predictions: probabilities.map((p) => model.label(p)), probabilities });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }).listen(Number(port), '127.0.0.1', () => console.log('ready'));
}

void main();
