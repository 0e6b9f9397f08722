// Command floor is the benchmark's floor: the smallest Echo v4 server there
// is, answering GET /healthz with 200 and the JSON string "OK". Latchkey's
// HTTP scenarios are reported as a ratio of what this server reaches on the
// same machine, driven the same way, so the figures say how much Latchkey's
// own work costs rather than how fast the machine is.
//
// It deliberately has no middleware: it stands for the cost of Go's HTTP
// stack plus Echo's router and JSON rendering, nothing more.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, "OK")
	})

	// Stop cleanly on SIGTERM (what the harness sends) or Ctrl-C.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Shutdown(shutdownCtx)
	}()

	if err := e.Start(*addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("floor: %v", err)
	}
}
