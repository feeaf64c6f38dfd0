/** SMPPSMSProvider: the provider class. Everything else in this folder is its private detail. */
export { SmppSmsProviderClass } from './provider.js'
