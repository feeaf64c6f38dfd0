export { maskPhone } from './index.js'
