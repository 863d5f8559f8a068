// Error values of the SDK: the server's codes (docs/protocol.md "Error codes")
// and the SDK's own (9001-9003, as in sdk/cpp/include/tutti/sdk/types.h), so
// an application can tell "the server said no" from "the SDK gave up".

export const kTimeout = 9001;          // no reply within the request timeout
export const kDisconnected = 9002;     // the client is closed for good
export const kInvalidArgument = 9003;  // rejected before sending

export const ErrorCode = Object.freeze({
  Internal: 100, BadRequest: 1000, UnknownMethod: 1001, InvalidParams: 1002,
  NotConnected: 1004, AlreadyConnected: 1005, BatchTooLarge: 1006,
  TokenMalformed: 1101, TokenAlgNone: 1102, TokenWrongAlg: 1103, TokenBadSignature: 1104,
  TokenExpired: 1105, TokenNotYetValid: 1106, AnonymousRefused: 1107, PermissionDenied: 1108,
  TokenMissingClaim: 1109,
  NotSubscribed: 1201, AlreadySubscribed: 1202, TooManyRooms: 1203, PublishNotAllowed: 1204,
  RateLimited: 1205, BadRoomName: 1206, PresenceOff: 1207, DataTooLarge: 1208,
  WindowExists: 1301, BadWindowTimes: 1302,
  Timeout: kTimeout, Disconnected: kDisconnected, InvalidArgument: kInvalidArgument,
});

// Close codes (docs/protocol.md "Close codes"; include/tutti/protocol/codes.h).
export const Close = Object.freeze({
  Normal: 1000, NoStatus: 1005, Abnormal: 1006, MessageTooBig: 1009, Shutdown: 4001,
  ProtocolError: 4002, BadToken: 4003, TokenExpired: 4004, SlowConsumer: 4005,
  LimitExceeded: 4006, ConnectTimeout: 4008, Kicked: 4009,
});

// Whether a close code allows reconnecting (tutti::code::shouldReconnect).
export function shouldReconnect(closeCode) {
  return !(closeCode === Close.BadToken || closeCode === Close.Kicked || closeCode === Close.ProtocolError);
}

export class TuttiError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TuttiError';
    this.code = code;
  }
}
