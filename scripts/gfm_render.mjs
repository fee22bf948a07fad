// Render a Markdown file as GitHub Flavored Markdown with marked (gfm: true: tables and bare
// URL and e-mail autolinks), printing the HTML. The report test checks that text from a case never
// becomes a link.
// Usage: IRP_MERMAID_MODULES=DIR/node_modules node scripts/gfm_render.mjs FILE.md
// (marked comes with the mermaid modules scripts/test installs)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.IRP_MERMAID_MODULES + "/");
const { marked } = require("marked");
process.stdout.write(marked.parse(readFileSync(process.argv[2], "utf8"), { gfm: true }));
