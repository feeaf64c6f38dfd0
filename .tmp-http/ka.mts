import { startGateway } from '../test/helpers/gateway.js'
import { createDispatcher, httpRequest } from '../src/providers/http-client.js'
import { Agent, request } from 'undici'
const gw = await startGateway()
const d = createDispatcher({ connectTimeoutMs: 1000, readTimeoutMs: 1000 })
for (let i = 0; i < 2; i++) { const r = await httpRequest(d, { method: 'POST', url: gw.url + '/x', body: 'a=1', headers: {'content-type':'application/x-www-form-urlencoded'} }); console.log(r.status, r.headers.connection) }
console.log(gw.requests.map(r => r.socketId))
const a = new Agent()
for (let i = 0; i < 2; i++) { const r = await request(gw.url + '/y', { dispatcher: a, method: 'POST', body: 'a=1' }); await r.body.text() }
console.log(gw.requests.map(r => r.socketId))
const ac = new AbortController()
for (let i = 0; i < 2; i++) { const r = await request(gw.url + '/z', { dispatcher: a, method: 'POST', body: 'a=1', signal: AbortSignal.any([ac.signal]) }); await r.body.text() }
console.log(gw.requests.map(r => r.socketId))
await d.close(); await a.close(); await gw.close()
