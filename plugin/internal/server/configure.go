package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
	"github.com/pagechat/pagechat/plugin/internal/transcript"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// dbFileName is the plugin's database inside the configured data dir.
const dbFileName = "pagechat.db"

// settings is a validated ConfigureRequest, every default filled in.
type settings struct {
	hostBrokerID    uint32
	dataDir         string
	maxMessageBytes int
	maxUploadBytes  int64
	permTTL         time.Duration
	perMinute       int   // -1: no limit
	uploadPerHour   int64 // -1: no quota
	maxRooms        int
	editWindow      time.Duration // 0: authors may not edit
	location        *time.Location
	subscriberBuf   int // 0: the hub's default
	transcripts     transcriptSettings
	roomLinks       []roomLinkSetting
	notify          notifySettings
	postgresDSN     string // cluster mode; empty: bbolt in dataDir
	presenceTTL     time.Duration
	leaseTTL        time.Duration
}

// validateConfigure checks a ConfigureRequest and fills in the defaults.
// Every field is checked before anything is opened, so a bad setting
// leaves nothing half started.
func validateConfigure(req *chatv1.ConfigureRequest) (settings, error) {
	set := settings{hostBrokerID: req.GetHostBrokerId(), dataDir: req.GetDataDir()}

	set.maxMessageBytes = int(req.GetMaxMessageBytes())
	switch {
	case set.maxMessageBytes == 0:
		set.maxMessageBytes = limits.DefaultMessageBytes
	case set.maxMessageBytes < 0 || set.maxMessageBytes > limits.MaxMessageBytes:
		return settings{}, failf(errInvalid, "max_message_bytes %d out of range 1..%d", set.maxMessageBytes, limits.MaxMessageBytes)
	}
	// Range-check the milliseconds before converting: a huge value would
	// overflow time.Duration and wrap into an accepted one.
	permMS := req.GetPermissionCacheMs()
	if permMS < 0 || permMS > limits.MaxPermissionCache.Milliseconds() {
		return settings{}, failf(errInvalid, "permission_cache_ms %d out of range 1..%d", permMS, limits.MaxPermissionCache.Milliseconds())
	}
	set.permTTL = time.Duration(permMS) * time.Millisecond
	if set.permTTL == 0 {
		set.permTTL = limits.DefaultPermissionCache
	}
	set.maxUploadBytes = req.GetMaxUploadBytes()
	switch {
	case set.maxUploadBytes == 0:
		set.maxUploadBytes = limits.DefaultUploadBytes
	case set.maxUploadBytes < 0 || set.maxUploadBytes > limits.MaxUploadBytes:
		return settings{}, failf(errInvalid, "max_upload_bytes %d out of range 1..%d", set.maxUploadBytes, limits.MaxUploadBytes)
	}
	set.perMinute = int(req.GetMaxMessagesPerMinute())
	switch {
	case set.perMinute == 0:
		set.perMinute = limits.DefaultMessagesPerMinute
	case set.perMinute < -1:
		return settings{}, failf(errInvalid, "max_messages_per_minute %d: use a positive limit, 0 for the default or -1 for none", set.perMinute)
	}
	set.uploadPerHour = req.GetMaxUploadBytesPerHour()
	switch {
	case set.uploadPerHour == 0:
		set.uploadPerHour = limits.DefaultUploadBytesPerHour
	case set.uploadPerHour < -1:
		return settings{}, failf(errInvalid, "max_upload_bytes_per_hour %d: use a positive limit, 0 for the default or -1 for none", set.uploadPerHour)
	}
	set.maxRooms = int(req.GetMaxRoomsPerPage())
	switch {
	case set.maxRooms == 0:
		set.maxRooms = limits.DefaultRoomsPerPage
	case set.maxRooms < 0:
		return settings{}, failf(errInvalid, "max_rooms_per_page %d must be positive (0 for the default)", set.maxRooms)
	}
	switch w := req.GetEditWindowSeconds(); {
	case w == 0:
		set.editWindow = limits.DefaultEditWindow
	case w == -1:
		set.editWindow = 0
	case w < -1 || w > int64(limits.MaxEditWindow/time.Second):
		return settings{}, failf(errInvalid, "edit_window_seconds %d: use 1..%d, 0 for the default or -1 to let authors neither edit nor delete", w, int64(limits.MaxEditWindow/time.Second))
	default:
		set.editWindow = time.Duration(w) * time.Second
	}
	var err error
	set.location, err = time.LoadLocation(req.GetTimeZone())
	if err != nil {
		return settings{}, failf(errInvalid, "time_zone %q is not an IANA time zone: %v", req.GetTimeZone(), err)
	}
	set.transcripts, err = transcriptSettingsFrom(req)
	if err != nil {
		return settings{}, err
	}
	if req.GetSubscriberBuffer() < 0 {
		return settings{}, failf(errInvalid, "subscriber_buffer %d must not be negative", req.GetSubscriberBuffer())
	}
	set.subscriberBuf = int(req.GetSubscriberBuffer())
	if set.roomLinks, err = roomLinksFrom(req); err != nil {
		return settings{}, err
	}
	if set.notify, err = notifySettingsFrom(req); err != nil {
		return settings{}, err
	}
	set.postgresDSN = req.GetPostgresDsn()
	if set.presenceTTL, err = durationEnv(envPresenceTTL, defaultPresenceTTL); err != nil {
		return settings{}, err
	}
	if set.leaseTTL, err = durationEnv(envLeaseTTL, pgstore.DefaultLeaseTTL); err != nil {
		return settings{}, err
	}
	if set.dataDir == "" {
		return settings{}, failf(errInvalid, "data_dir is required")
	}
	return set, nil
}

// configure opens storage, connects to the host and starts the background
// work, or undoes what it did and fails.
func (s *Server) configure(set settings) (*runtime, error) {
	if s.dialHost == nil {
		return nil, failf(errNotConfigured, "plugin has no broker to reach the host")
	}
	conn, err := s.dialHost(set.hostBrokerID)
	if err != nil {
		return nil, failf(errStopping, "connect to host callback API (broker id %d): %v", set.hostBrokerID, err)
	}
	host := newHostClient(hostv1.NewHostAPIClient(conn))
	h := hub.New(set.subscriberBuf)
	tr := newTranscripts(s.logger)
	nt := newNotifier(s.logger, s.now, set.notify, set.transcripts.chatPrefix)
	publish := tr.onCommit(h.PublishMessages)
	st, db, err := s.openStore(set, nt.onCommit(publish), nt.onFollow(publish))
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	if err := tr.start(st, host, set.location, set.transcripts, s.now); err != nil {
		_ = st.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("start transcripts: %w", err)
	}
	perms := newPermCache(host, set.permTTL, s.now)
	var roomMentions *tokenBuckets
	if n := set.notify.roomMentionsPerHour; n > 0 {
		roomMentions = newTokenBuckets(float64(n), time.Hour, s.now)
	}
	s.logger.Info("configured", "db", db, "pid", os.Getpid(), "max_message_bytes", set.maxMessageBytes, "permission_cache", set.permTTL.String())
	rt := &runtime{
		logger:          s.logger,
		now:             s.now,
		maxMessageBytes: set.maxMessageBytes,
		maxUploadBytes:  set.maxUploadBytes,
		permTTL:         set.permTTL,
		editWindow:      set.editWindow,
		location:        set.location,
		chatPrefix:      set.transcripts.chatPrefix,
		store:           st,
		hub:             h,
		host:            host,
		closeHost:       conn.Close,
		roomLinks:       set.roomLinks,
		perms:           perms,
		users:           newUserCache(host, s.now),
		presence:        newPresence(),
		limiter:         newRateLimiter(set.perMinute, s.now),
		typingLimit:     newRateLimiter(typingPerMinute, s.now),
		quota:           newUploadQuota(set.uploadPerHour, limits.UploadQuotaWindow, s.now),
		done:            make(chan struct{}),
		transcripts:     tr,
		notify:          nt,
		roomMentions:    roomMentions,
	}
	if pg, ok := st.(*pgstore.Store); ok {
		users := rt.users
		cp := newClusterPresence(pg, h, users.cachedName, s.logger.Named("cluster"), set.presenceTTL)
		rt.presence, rt.stopCluster = cp, cp.stop
		if rt.limiter != nil {
			rt.limiter.shared, rt.limiter.kind = pg, "messages"
		}
		if rt.quota != nil {
			rt.quota.shared, rt.quota.kind = pg, "upload-bytes"
		}
	}
	nt.start(st, host, perms, rt.presence)
	return rt, nil
}

// openStore opens the store the settings ask for: PostgreSQL in cluster
// mode, else bbolt in the data dir. db names it for logs, without any
// password. onCommit gets this node's commits; onFollow, in cluster mode,
// the other nodes'.
func (s *Server) openStore(set settings, onCommit, onFollow store.CommitFunc) (st store.Store, db string, err error) {
	dayOf := transcript.DayFunc(set.location)
	if set.postgresDSN != "" {
		db = pgstore.Describe(set.postgresDSN)
		ctx, cancel := context.WithTimeout(context.Background(), pgOpenTimeout)
		defer cancel()
		pg, err := pgstore.Open(ctx, pgstore.Options{
			DSN:             set.postgresDSN,
			OnCommit:        onCommit,
			OnFollow:        onFollow,
			Now:             s.now,
			DayOf:           dayOf,
			MaxRoomsPerPage: set.maxRooms,
			LeaseTTL:        set.leaseTTL,
			Node:            nodeName(),
		})
		switch {
		case errors.Is(err, store.ErrInvalid):
			return nil, db, failf(errInvalid, "postgres_dsn: %v", err)
		case err != nil:
			return nil, db, fmt.Errorf("open storage (%s): %w", db, err)
		}
		return pg, db, nil
	}
	db = filepath.Join(set.dataDir, dbFileName)
	bolt, err := store.Open(db, store.Options{
		OnCommit:        onCommit,
		Now:             s.now,
		DayOf:           dayOf,
		MaxRoomsPerPage: set.maxRooms,
		Warn: func(msg string, err error) {
			s.logger.Warn(msg, "db", db, "error", err)
		},
	})
	if err != nil {
		return nil, db, fmt.Errorf("open storage: %w", err)
	}
	if n := bolt.Replayed(); n > 0 {
		s.logger.Info("storage: applied what the last run acknowledged but had not written to the database file (it did not shut down cleanly)",
			"db", db, "batches", n)
	}
	if from, to, ok := bolt.Upgraded(); ok {
		s.logger.Info("storage file upgraded; pagechat plugins released before this one cannot open it any more",
			"db", db, "from_layout", from, "to_layout", to)
	}
	return bolt, db, nil
}

// pgOpenTimeout bounds connecting to PostgreSQL and migrating its schema
// in Configure, within host-sdk's start timeout (20 s by default).
const pgOpenTimeout = 15 * time.Second

// nodeName names this plugin process in the cluster's presence rows and
// transcript leases: the host name and pid, for an admin reading them.
func nodeName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "node"
	}
	return fmt.Sprintf("%s:%d:%d", host, os.Getpid(), time.Now().UnixNano()%1_000_000)
}

// Configure opens storage and connects to the host.
func (s *Server) Configure(ctx context.Context, req *chatv1.ConfigureRequest) (*chatv1.ConfigureResponse, error) {
	set, err := validateConfigure(req)
	if err != nil {
		return nil, toStatus(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, toStatus(errShuttingDown)
	case s.rt != nil:
		return nil, toStatus(failf(errNotConfigured, "plugin is already configured; restart it to change settings"))
	}
	rt, err := s.configure(set)
	if err != nil {
		return nil, toStatus(err)
	}
	s.rt = rt
	return &chatv1.ConfigureResponse{PluginVersion: s.version}, nil
}

// errShuttingDown answers every call after Shutdown.
var errShuttingDown = failf(errStopping, "plugin is shutting down")

// runtime returns the configured runtime, or why there is none.
func (s *Server) runtime() (*runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errShuttingDown
	}
	if s.rt == nil {
		return nil, failf(errNotConfigured, "plugin is not configured yet: the host must call Configure first")
	}
	return s.rt, nil
}

// Health reports configuration state.
func (s *Server) Health(ctx context.Context, _ *chatv1.HealthRequest) (*chatv1.HealthResponse, error) {
	s.mu.Lock()
	rt := s.rt
	s.mu.Unlock()
	resp := &chatv1.HealthResponse{PluginVersion: s.version, Configured: rt != nil}
	if rt != nil {
		n, err := rt.store.RoomCount(ctx)
		if err != nil {
			return nil, toStatus(storeErr(err, ""))
		}
		resp.Rooms = int64(n)
	}
	return resp, nil
}

// Shutdown closes storage so the process can be stopped safely.
func (s *Server) Shutdown(context.Context, *chatv1.ShutdownRequest) (*chatv1.ShutdownResponse, error) {
	if err := s.Close(); err != nil {
		return nil, toStatus(fmt.Errorf("close storage: %w", err))
	}
	return &chatv1.ShutdownResponse{}, nil
}

// Close ends streams, writes pending transcripts, waits for in-flight
// commits and closes storage. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	rt := s.rt
	if rt == nil {
		return nil
	}
	close(rt.done)
	rt.hub.Close()
	rt.transcripts.stop() // before the store and the host connection close
	rt.notify.stop()      // writes the collected read markers
	if rt.stopCluster != nil {
		rt.stopCluster()
	}
	err := rt.store.Close()
	rt.perms.close() // before the host connection it asks over closes
	_ = rt.closeHost()
	s.logger.Info("storage closed")
	return err
}
