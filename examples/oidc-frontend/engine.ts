/**
 * The front-end's engine: see ../shared/engine.ts. No user directory on purpose: the OpenID
 * provider is the directory, and a user without a token is enrolled for the verified
 * `phone_number` claim the front-end passes to the gate.
 */
import type { SmsOtp } from 'sms-otp'
import { openExampleEngine } from '../shared/engine.js'

export { REALM } from '../shared/engine.js'

export const openEngine = (dataDir: string): Promise<SmsOtp> => openExampleEngine({ dataDir, name: 'oidc-frontend' })
