package server

// renderAZ renders errors in the Authentication Zero shapes. Placeholder until the dialect lands.
func renderAZ(s *Server, e *Error, operation string) rendered {
	return renderPlain(e)
}
