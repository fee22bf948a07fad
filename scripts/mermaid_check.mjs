// Parse a Mermaid file with the real mermaid library (npm), in Node with a jsdom window.
// Usage: IRP_MERMAID_MODULES=DIR/node_modules node scripts/mermaid_check.mjs GRAPH.mmd
// (scripts/test installs scripts/mermaid/package.json under ~/.cache/irp/mermaid and sets the variable)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.IRP_MERMAID_MODULES + "/");
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>", { pretendToBeVisual: true });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMPurify = require("dompurify")(dom.window);

const mermaid = (await import(require.resolve("mermaid"))).default;
mermaid.initialize({ startOnLoad: false });
const text = readFileSync(process.argv[2], "utf8");
try {
  const result = await mermaid.parse(text);
  console.log(`mermaid: parsed a ${result.diagramType} diagram`);
} catch (e) {
  console.error(`mermaid rejected the diagram: ${e.message ?? e}`);
  process.exit(1);
}
