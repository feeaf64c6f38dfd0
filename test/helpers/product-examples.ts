/**
 * The product document's provider examples, verbatim, and the two helpers tests use with them:
 * the five class-name forms LinOTP accepts, and `point()` to aim an example at a loopback peer.
 */
import assert from 'node:assert/strict'

/** The five spellings LinOTP accepts for a class. */
export function classForms(short: string): string[] {
  return [short, `smsprovider.${short}`, `smsprovider.${short}.${short}`, `linotp.provider.smsprovider.${short}`, `linotp.provider.smsprovider.${short}.${short}`]
}

/** Replaces literal pieces of an example; every piece must be present (the example is verbatim). */
export function point(example: string, replacements: Array<[string, string]>): string {
  let text = example
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `the example contains ${from}`)
    text = text.replaceAll(from, to)
  }
  return text
}

export const HTTP_EXAMPLE = `{"URL":"http://smsgateway.com/sms_send_api.cgi",
 "PARAMETER": {
     "from":"0170111111",
     "password":"yoursecret",
     "sender":"name",
     "account":"company_ltd"
  },
 "SMS_TEXT_KEY":"text",
 "SMS_PHONENUMBER_KEY":"destination",
 "HTTP_Method":"GET",
 "PROXY":"http://username:password@your-proxy:8080",
 "RETURN_SUCCESS":"ID"
}`

export const CLICKATELL_EXAMPLE = `{ "URL" : "http://api.clickatell.com/http/sendmsg",
 "PARAMETER" : {
 "user":"username",
 "password":"askme",
 "api_id":"12980436"
  },
  "SMS_TEXT_KEY":"text",
  "SMS_PHONENUMBER_KEY":"to",
  "HTTP_Method":"GET",
  "PROXY" : "http://user:pass@192.168.100.250:8080",
  "RETURN_SUCCESS" : "ID"
 }`

export const SWISSCOM_EXAMPLE = `{"URL":"https://messagingproxy.swisscom.ch:4300/rest/1.0.0/submit_sm/123456",
"PAYLOAD": {
  "destination_addr": "<phone>",
  "source_addr":"123456",
  "short_message": "Your OTP is: <message>",
  "source_addr_ton":6,
  "source_addr_npi":0,
  "dest_addr_ton":1,
  "dest_addr_npi":1},
"SMS_TEXT_KEY":"short_message",
"SMS_PHONENUMBER_KEY":"destination_addr",
"PASSWORD": "SECRET",
"USERNAME":"123456"
}`

export const CLX_EXAMPLE = `{"URL": "https://api.clxcommunications.com/xms/v1/customer27421/batches",
"PAYLOAD": {
"to": ["<phone>"],
"from": "123456789",
"body":"Your OTP is: <message>"
},
"HEADERS": {
"Authorization": "Bearer e215354ab28041daa3cbf2f11cbd1257",
"Content-Type": "application/json"
},
"SMS_TEXT_KEY": "body",
"SMS_PHONENUMBER_KEY": "to"
}`

export const SMPP_EXAMPLE = `{ "server":"smpp-server",
  "port":"smmp-port",
  "system_id":"login-name",
  "system_type":"",
  "password":"password",
  "source_addr":"displayed-source-address",
  "source_addr_npi":"0",
  "source_addr_ton":"5",
}`

export const SMTP_EXAMPLE = `{ "mailserver" : "smtp.yourdomain.com",
  "mailsender" : "linotp@yourdomain.com",
  "mailuser" : "account-to-login-to-smtp-server",
  "mailpassword" : "somesecret",
  "mailto": "mailadress@smstp-gateway",
  "subject" : "<phone>",
  "body" : "This is your OTP-value: <otp>"
}`

export const DEVICE_EXAMPLE = `{"CONFIGFILE":"/etc/linotp2/gnokiirc"}`
