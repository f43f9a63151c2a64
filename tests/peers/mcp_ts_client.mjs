// The MCP TypeScript SDK client, driven non-interactively by the test suite (tests/oauth/admin).
//
//   node mcp_ts_client.mjs <mcp server url> <client id> <redirect uri> <tool name>
//   env PLATFORM_COOKIE: the Cookie header of a person already signed in at the tenant
//
// connect -> 401 -> the SDK discovers (PRM, authorization server metadata) and calls
// redirectToAuthorization(url): we follow the URL as that person's browser would (cookie, consent form
// "Allow") and keep the redirect back to us -> finishAuth(code) -> call the tool -> auth() again, which
// refreshes (the refresh token rotates) -> call the tool with the new access token.
// Prints one JSON line per step; exits non-zero on any failure.

import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [serverUrl, clientId, redirectUri, toolName] = process.argv.slice(2);
const cookie = process.env.PLATFORM_COOKIE || '';
const MAX_HOPS = 10;

function report(event, data = {}) {
  process.stdout.write(JSON.stringify({ event, ...data }) + '\n');
}

function fieldsOfConsentForm(html) {
  const form = html.match(/<form[^>]*method="post"[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i)
    || html.match(/<form[^>]*action="([^"]*)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i);
  if (!form || !/name="decision"\s+value="allow"/.test(form[2])) return null;
  const fields = new URLSearchParams();
  for (const input of form[2].matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = input[0].match(/name="([^"]*)"/);
    const value = input[0].match(/value="([^"]*)"/);
    if (name) fields.set(name[1], value ? value[1] : '');
  }
  fields.set('decision', 'allow');
  return { action: form[1].replaceAll('&amp;', '&'), fields };
}

// The person's browser: GET the authorization URL with their session, allow on the consent page, and stop
// at the redirect to the client (never fetched: nothing listens there).
async function followAsSignedInUser(authorizationUrl) {
  let url = authorizationUrl;
  let init = { method: 'GET' };
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { cookie, ...(init.headers || {}) } });
    if (response.status >= 300 && response.status < 400) {
      const target = new URL(response.headers.get('location'), url);
      if (target.href.startsWith(redirectUri.split('?')[0])) return target;
      url = target.href;
      init = { method: 'GET' };
      continue;
    }
    const html = await response.text();
    const consent = response.status === 200 ? fieldsOfConsentForm(html) : null;
    if (!consent) throw new Error(`expected a redirect or the consent page at ${url}, got ${response.status}: ${html.slice(0, 300)}`);
    report('consent', { url });
    url = new URL(consent.action || url, url).href;
    init = { method: 'POST', body: consent.fields.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded', referer: url } };
  }
  throw new Error(`more than ${MAX_HOPS} hops following ${authorizationUrl}`);
}

class PreRegisteredClient {
  constructor() {
    this.stored = { tokens: undefined, verifier: undefined, client: { client_id: clientId } };
    this.expectedState = undefined;
    this.callback = undefined;
  }
  get redirectUrl() { return redirectUri; }
  get clientMetadata() {
    return { client_name: 'pytest TypeScript client', redirect_uris: [redirectUri],
             grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
             token_endpoint_auth_method: 'none' };
  }
  state() { this.expectedState = crypto.randomUUID(); return this.expectedState; }
  clientInformation() { return this.stored.client; }
  saveClientInformation(info) { this.stored.client = info; }
  tokens() { return this.stored.tokens; }
  saveTokens(tokens) { this.stored.tokens = tokens; }
  saveCodeVerifier(verifier) { this.stored.verifier = verifier; }
  codeVerifier() { return this.stored.verifier; }
  async redirectToAuthorization(authorizationUrl) {
    report('authorization_url', { url: authorizationUrl.href });
    this.callback = await followAsSignedInUser(authorizationUrl.href);
    report('callback', { url: this.callback.href });
  }
}

async function callTool(provider) {
  const client = new Client({ name: 'pytest-ts', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider }));
  try {
    const result = await client.callTool({ name: toolName, arguments: {} });
    return { isError: Boolean(result.isError), text: result.content[0].text };
  } finally {
    await client.close();
  }
}

async function main() {
  const provider = new PreRegisteredClient();
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const first = new Client({ name: 'pytest-ts', version: '1.0.0' });
  try {
    await first.connect(transport);
    throw new Error('the MCP server accepted a client without a token');
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  const params = provider.callback?.searchParams;
  if (!params) throw new Error('the SDK never asked to redirect to the authorization server');
  if (params.get('error')) throw new Error(`authorization failed: ${params.get('error')} ${params.get('error_description')}`);
  if (params.get('state') !== provider.expectedState) throw new Error(`state mismatch: ${params.get('state')}`);
  await transport.finishAuth(params.get('code'));
  const before = provider.tokens();
  report('tool', { ...(await callTool(provider)), scope: before.scope, iss: params.get('iss') });

  if ((await auth(provider, { serverUrl })) !== 'AUTHORIZED') throw new Error('refresh did not authorize');
  const after = provider.tokens();
  report('refreshed', { accessTokenChanged: after.access_token !== before.access_token,
                        refreshTokenRotated: Boolean(after.refresh_token) && after.refresh_token !== before.refresh_token });
  report('tool', await callTool(provider));
}

main().then(() => process.exit(0), (error) => {
  report('error', { message: String(error?.stack || error) });
  process.exit(1);
});
