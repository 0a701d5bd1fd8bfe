package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// credentials are the files the API server and its clients need, all made fresh per start.
type credentials struct {
	CA         string // CA certificate (PEM): it signs the serving and client certificates
	CAPEM      []byte
	ServerCert string // serving certificate for 127.0.0.1 and localhost
	ServerKey  string
	ClientCert string // client certificate of the admin (O=system:masters)
	ClientKey  string
	SAKey      string // service-account signing key (private) and its public half
	SAPub      string
	TokenFile  string // --token-auth-file: one static token, user harness-admin in system:masters
	Token      string
}

const adminUser = "harness-admin"

func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), mode)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// makeCredentials writes a CA, a serving certificate, an admin client certificate, a
// service-account key pair and a token file into dir.
func makeCredentials(dir string) (*credentials, error) {
	c := &credentials{
		CA:         filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "apiserver.crt"),
		ServerKey:  filepath.Join(dir, "apiserver.key"),
		ClientCert: filepath.Join(dir, "admin.crt"),
		ClientKey:  filepath.Join(dir, "admin.key"),
		SAKey:      filepath.Join(dir, "sa.key"),
		SAPub:      filepath.Join(dir, "sa.pub"),
		TokenFile:  filepath.Join(dir, "tokens.csv"),
	}
	now := time.Now()
	notBefore, notAfter := now.Add(-time.Hour), now.Add(365*24*time.Hour)

	caKey, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "infergate-kube-harness-ca"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	c.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(c.CA, c.CAPEM, 0o644); err != nil {
		return nil, err
	}

	leaf := func(certPath, keyPath string, t *x509.Certificate) error {
		key, err := newKey()
		if err != nil {
			return err
		}
		if t.SerialNumber, err = serial(); err != nil {
			return err
		}
		t.NotBefore, t.NotAfter = notBefore, notAfter
		t.KeyUsage = x509.KeyUsageDigitalSignature
		t.BasicConstraintsValid = true
		der, err := x509.CreateCertificate(rand.Reader, t, caCert, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		return writeKey(keyPath, key)
	}
	if err := leaf(c.ServerCert, c.ServerKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	if err := leaf(c.ClientCert, c.ClientKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: adminUser, Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}

	saKey, err := newKey()
	if err != nil {
		return nil, err
	}
	if err := writeKey(c.SAKey, saKey); err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePEM(c.SAPub, "PUBLIC KEY", pubDER, 0o644); err != nil {
		return nil, err
	}

	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	c.Token = hex.EncodeToString(raw)
	// token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,%s,%s-uid,\"system:masters\"\n", c.Token, adminUser, adminUser)
	if err := os.WriteFile(c.TokenFile, []byte(line), 0o600); err != nil {
		return nil, err
	}
	return c, nil
}
