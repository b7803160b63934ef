package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// BackupStallTimeout is how long GET /admin/backup waits for the client to take the next chunk of the copy. The
// copy is written from one read transaction, and a commit that grows the ledger file waits for it to end, so a
// client that stops reading is cut off rather than allowed to hold the ledger back. The listener's WriteTimeout
// does not apply to a backup that keeps moving.
const BackupStallTimeout = 30 * time.Second

// backup streams a consistent copy of the ledger file (GET /admin/backup). The body is the bbolt file as of one read
// transaction, with its exact Content-Length; a copy cut short by an error after the headers were sent ends the
// connection early, so the client sees fewer bytes than announced and must discard it.
func (s *Server) backup(c echo.Context) error {
	if !s.backupRunning.CompareAndSwap(false, true) {
		return apiErr(http.StatusConflict, "backup_in_progress", "another backup is being written; try again when it ends")
	}
	defer s.backupRunning.Store(false)

	rw := c.Response()
	rc := http.NewResponseController(rw)
	started := time.Now()
	sent := false
	n, err := s.store.Backup(c.Request().Context(), &stallWriter{w: rw, rc: rc}, func(size int64) {
		h := rw.Header()
		h.Set(echo.HeaderContentType, echo.MIMEOctetStream)
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		h.Set(echo.HeaderContentDisposition,
			`attachment; filename="walletgate-`+started.UTC().Format("20060102T150405Z")+`.db"`)
		h.Set("Cache-Control", "no-store")
		rw.WriteHeader(http.StatusOK)
		sent = true
	})
	if err != nil {
		if !sent {
			return ledgerErr(err)
		}
		s.log.Error("backup cut short", zap.Int64("bytes", n), zap.Error(err))
		return nil // the headers are out: the short body tells the client
	}
	s.log.Info("backup sent", zap.Int64("bytes", n), zap.Duration("took", time.Since(started)))
	return nil
}

// stallWriter moves the connection's write deadline forward before each write, so only a stalled client is cut off.
type stallWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (sw *stallWriter) Write(p []byte) (int, error) {
	if err := sw.rc.SetWriteDeadline(time.Now().Add(BackupStallTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, err
	}
	return sw.w.Write(p)
}
