package totp

// ScratchCodesHeader precedes the list of scratch codes at enrolment; The Bastion's tests grep
// for it, then read the codes from the following lines.
const ScratchCodesHeader = "Your emergency scratch codes are:"

// Enrollment is what selfMFASetupTOTP shows once to the account owner. The lead stores Key
// (sealed) and the hashes of ScratchCodes; nothing here is logged.
type Enrollment struct {
	Key          Key
	Secret       string // base32, for manual entry
	URI          string // otpauth://totp/gatehouse:account@bastion?...
	QR           string // URI drawn for the terminal
	ScratchCodes []string
}

// NewEnrollment makes a fresh SHA1/6-digit/30 s key (the profile every app supports), its URI
// and QR code, and scratchCount scratch codes.
func NewEnrollment(account, bastion string, scratchCount int, style QRStyle) (*Enrollment, error) {
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	key := Key{Secret: secret, Kind: KindTOTP, Algorithm: SHA1, Digits: 6, Period: 30}
	uri := URI(key, account, bastion)
	qr, err := RenderQR(uri, style)
	if err != nil {
		return nil, err
	}
	codes, err := NewScratchCodes(scratchCount)
	if err != nil {
		return nil, err
	}
	return &Enrollment{Key: key, Secret: EncodeSecret(secret), URI: uri, QR: qr, ScratchCodes: codes}, nil
}
