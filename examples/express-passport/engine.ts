/** The example's engine: see ../shared/engine.ts (users from users.json, auto-enrolment, alice's token). */
import type { SmsOtp } from 'sms-otp'
import { openExampleEngine } from '../shared/engine.js'

export { ALICE, REALM } from '../shared/engine.js'

export const openEngine = (dataDir: string, usersFile: string): Promise<SmsOtp> => openExampleEngine({ dataDir, usersFile, name: 'express-passport' })
