/** HttpSMSProvider: the provider class. Everything else in this folder is its private detail. */
export { HttpSmsProviderClass } from './provider.js'
