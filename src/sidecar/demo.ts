/**
 * The demo configuration `npm start` runs: an outbox provider that prints each SMS to the terminal
 * and appends it to `<dataDir>/sms-outbox.log`, realm `example`, and user `alice` with PIN `1234`.
 */
import type { SidecarConfig } from './config-file.js'

export function demoConfig(dataDir: string): SidecarConfig {
  return {
    realms: [{ name: 'example', default: true }],
    providers: [
      {
        name: 'outbox',
        class: 'FileSMSProvider',
        config: { file: 'sms-outbox.log', here: dataDir, append: true, echo: true },
        timeout: 120,
        default: true,
      },
    ],
    policies: [],
    config: {},
    tokens: [{ serial: 'LSSMDEMO0001', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234', description: 'demo token' }],
  }
}
