/**
 * The layout rule (DESIGN.md): a provider folder never imports another provider's folder, shared
 * provider modules know no class, the rest of the core reaches a class through its folder index,
 * and the core never imports a framework or a face. ESLint enforces it; these cases show that the
 * rule fires on each kind of violation and stays quiet on the allowed forms.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ESLint } from 'eslint'

const root = join(import.meta.dirname, '..')
const eslint = new ESLint({ cwd: root })

async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) })
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layout: ESLint no-restricted-imports', () => {
  const refused: Array<[string, string, RegExp]> = [
    ['src/providers/rest/provider.ts', "import { HttpSmsProviderClass } from '../http/provider.js'\nexport { HttpSmsProviderClass }\n", /never another provider folder/],
    ['src/providers/smpp/session.ts', "import { DeviceSmsProviderClass } from '../device/index.js'\nexport { DeviceSmsProviderClass }\n", /never another provider folder/],
    ['src/providers/loader.ts', "import { fitsTextMode } from './device/text-mode.js'\nexport { fitsTextMode }\n", /never import a provider class folder/],
    ['src/providers/net/http-client.ts', "import { evaluate } from '../rest/payload.js'\nexport { evaluate }\n", /never import a provider class folder/],
    ['src/sms-otp.ts', "import { SmppSmsProviderClass } from './providers/smpp/provider.js'\nexport { SmppSmsProviderClass }\n", /folder index/],
    ['src/validate/check.ts', "import { adminRouter } from '../../middleware/admin.js'\nexport { adminRouter }\n", /never imports a face/],
    ['src/tokens/trigger.ts', "import { createSidecar } from '../sidecar/app.js'\nexport { createSidecar }\n", /never imports a face/],
    ['src/providers/http/provider.ts', "import express from 'express'\nexport { express }\n", /framework-free/],
  ]
  for (const [file, code, message] of refused) {
    it(`refuses in ${file}: ${code.split('\n')[0]}`, async () => {
      const messages = await restricted(file, code)
      assert.equal(messages.length, 1, messages.join('\n'))
      assert.match(messages[0] as string, message)
    })
  }

  const allowed: Array<[string, string]> = [
    ['src/providers/rest/provider.ts', "import { evaluateReply } from '../net/http-reply.js'\nimport { LOCAL } from '../resources.js'\nimport { encode } from './payload.js'\nexport { evaluateReply, LOCAL, encode }\n"],
    ['src/sms-otp.ts', "import { SmppSmsProviderClass } from './providers/smpp/index.js'\nexport { SmppSmsProviderClass }\n"],
    ['src/sidecar/app.ts', "import express from 'express'\nimport { adminRouter } from '../../middleware/admin.js'\nexport { express, adminRouter }\n"],
  ]
  for (const [file, code] of allowed) {
    it(`allows in ${file}: ${code.split('\n')[0]}`, async () => {
      assert.deepEqual(await restricted(file, code), [])
    })
  }
})
