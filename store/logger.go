package store

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// gormLogger sends GORM's reports to slog: failed queries (other than "not found") at error
// level and slow ones at warn level. It never logs query parameters: they can hold password
// hashes and token hashes.
type gormLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func newGormLogger(log *slog.Logger, slow time.Duration) *gormLogger {
	return &gormLogger{log: log.With("component", "store"), slow: slow}
}

func (l *gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }

func (l *gormLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, msg, "args", len(args))
}

func (l *gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, msg, "args", len(args))
}

func (l *gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, msg, "args", len(args))
}

// ParamsFilter drops the parameters from the SQL that Trace prints.
func (l *gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l *gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && !errors.Is(err, context.Canceled):
		sql, _ := fc()
		// The error text of a constraint violation names the constraint, not the value.
		l.log.LogAttrs(ctx, slog.LevelWarn, "query failed",
			slog.String("sql", sql), slog.Duration("elapsed", elapsed), slog.String("error", err.Error()))
	case elapsed >= l.slow:
		sql, rows := fc()
		l.log.LogAttrs(ctx, slog.LevelWarn, "slow query",
			slog.String("sql", sql), slog.Int64("rows", rows), slog.Duration("elapsed", elapsed))
	}
}
