/** The identity provider's engine: see ../shared/engine.ts (users.json is the IdP's directory). */
import type { SmsOtp } from 'sms-otp'
import { openExampleEngine } from '../shared/engine.js'

export { REALM } from '../shared/engine.js'

export const openEngine = (dataDir: string, usersFile: string): Promise<SmsOtp> => openExampleEngine({ dataDir, usersFile, name: 'oidc-idp' })
