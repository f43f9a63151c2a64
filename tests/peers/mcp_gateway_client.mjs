// The MCP TypeScript SDK client calling a tool through an mcp_guard gateway with a bearer token, and
// noting when each progress notification arrives (they travel on the response's SSE stream).
// Usage: node mcp_gateway_client.mjs <server url> <access token> <tool> <json arguments>
// Prints one JSON line: {tools, result, progress: [{progress, at_ms}], done_at_ms} or {error, status}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, tool, args] = process.argv.slice(2);
const started = Date.now();
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "mcp-platform-ts-peer", version: "1.0.0" });
const progress = [];
try {
  await client.connect(transport);
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const result = await client.callTool({ name: tool, arguments: JSON.parse(args || "{}") }, undefined, {
    onprogress: (p) => progress.push({ progress: p.progress, at_ms: Date.now() - started }),
    timeout: 20000,
  });
  const text = result.content?.[0]?.text ?? null;
  console.log(JSON.stringify({ tools, result: text, is_error: !!result.isError, progress,
                               done_at_ms: Date.now() - started }));
  await client.close();
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.message ?? error), status: error?.code ?? null }));
  process.exitCode = 1;
}
