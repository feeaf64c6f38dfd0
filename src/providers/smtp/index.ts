/** SmtpSMSProvider: the provider class. Everything else in this folder is its private detail. */
export { SmtpSmsProviderClass } from './provider.js'
