/** DeviceSMSProvider: the provider class. Everything else in this folder is its private detail. */
export { DeviceSmsProviderClass } from './provider.js'
