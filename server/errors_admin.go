package server

// renderAdmin renders errors of the admin API. Placeholder until the admin API lands.
func renderAdmin(s *Server, e *Error) rendered {
	return renderPlain(e)
}
