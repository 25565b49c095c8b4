// Parse an AsyncAPI document with the reference parser (@asyncapi/parser) and print, as one JSON line,
// its diagnostics and what the parser read from it: every channel's address and binding, and every
// message's payload properties (after $ref resolution). Usage: node validate.mjs DOCUMENT.json
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const SEVERITIES = ["error", "warning", "information", "hint"];

const text = await readFile(process.argv[2], "utf8");
const { document, diagnostics } = await new Parser().parse(text);
const report = {
  diagnostics: diagnostics.map((d) => ({
    severity: SEVERITIES[d.severity],
    code: String(d.code),
    message: d.message,
    path: d.path.join("/"),
  })),
  channels: [],
};
if (document) {
  report.version = document.version();
  for (const channel of document.channels()) {
    report.channels.push({
      id: channel.id(),
      address: channel.address(),
      parameters: Object.fromEntries(channel.parameters().all().map((p) => [p.id(), p.schema()?.enum() ?? null])),
      amqp: channel.bindings().get("amqp")?.value() ?? null,
      messages: channel.messages().all().map((message) => ({
        id: message.id(),
        contentType: message.contentType(),
        payload: message.payload().json(),
      })),
      operations: channel.operations().all().map((operation) => ({ id: operation.id(), action: operation.action() })),
    });
  }
}
console.log(JSON.stringify(report));
